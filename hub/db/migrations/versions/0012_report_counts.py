"""report counts: waits, answered waits per week, who answered, held and auto-replies per hour

Failed replies are indexed too. The tables are empty here: the hub counts what is
already stored in the background after the upgrade (``hub/report_counts.py``),
showing its progress on the reports page.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Seconds = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "waits",
        sa.Column("id", Id, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("start_s", Seconds, nullable=False),
        sa.Column("owner_id", Id, nullable=True),
        sa.Column("replied_s", Seconds, nullable=True),
        sa.Column("replied_by", Id, nullable=True),
        sa.Column("response_s", Seconds, nullable=True),
        sa.Column("target_s", Seconds, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_waits_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waits")),
    )
    op.create_index("ix_waits_conversation_id", "waits", ["conversation_id"])
    op.create_index("ix_waits_start_s", "waits", ["start_s"])
    op.create_index("ix_waits_owner_id_start_s", "waits", ["owner_id", "start_s"])
    op.create_index("ix_waits_replied_s_start_s", "waits", ["replied_s", "start_s"])
    op.create_table(
        "wait_weeks",
        sa.Column("id", Id, nullable=False),
        sa.Column("week_s", Seconds, nullable=False),
        sa.Column("owner_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("replied", sa.Integer(), nullable=False),
        sa.Column("met", sa.Integer(), nullable=False),
        sa.Column("missed", sa.Integer(), nullable=False),
        sa.Column("histogram", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wait_weeks")),
    )
    op.create_index(
        "uq_wait_weeks_key", "wait_weeks", ["week_s", "owner_id", "channel", "kind"], unique=True
    )
    op.create_table(
        "conversation_answers",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("start_s", Seconds, nullable=False),
        sa.Column("owner_id", Id, nullable=True),
        sa.Column("replied", sa.Boolean(), nullable=False),
        sa.Column("by_owner", sa.Boolean(), nullable=False),
        sa.Column("by_others", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_answers_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_answers")),
    )
    op.create_index("ix_conversation_answers_start_s", "conversation_answers", ["start_s"])
    op.create_table(
        "message_hours",
        sa.Column("hour_s", Seconds, nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("autoreplies", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour_s", name=op.f("pk_message_hours")),
    )
    op.execute("INSERT INTO hub_state (key, value) VALUES ('reports.counted_up_to', '0')")
    failed = sa.text("state = 'failed'")
    op.create_index(
        "ix_messages_failed_created_at",
        "messages",
        ["created_at"],
        sqlite_where=failed,
        postgresql_where=failed,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_failed_created_at", table_name="messages")
    op.execute("DELETE FROM hub_state WHERE key = 'reports.counted_up_to'")
    for table in ("message_hours", "conversation_answers", "wait_weeks", "waits"):
        op.drop_table(table)
