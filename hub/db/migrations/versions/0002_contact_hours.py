"""contact hours: calendars, channel rules, holds, scheduled replies, reply due times

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "contact_hours",
        sa.Column("id", Id, nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_hours")),
        sa.UniqueConstraint("scope", "subject", name=op.f("uq_contact_hours_scope_subject")),
    )
    op.create_table(
        "channel_rules",
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("never_hold", sa.Boolean(), nullable=False),
        sa.Column("autoreply_template", sa.Text(), nullable=True),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channel_rules")),
    )
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column(
                "always_reachable", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("autoreplied_until", When, nullable=True))
        batch.add_column(sa.Column("first_replied_at", When, nullable=True))
        batch.add_column(sa.Column("reply_due_at", When, nullable=True))
        batch.create_index("ix_conversations_reply_due_at", ["reply_due_at"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("release_at", When, nullable=True))
        batch.create_index("ix_messages_state_release_at", ["state", "release_at"])


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_state_release_at")
        batch.drop_column("release_at")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_reply_due_at")
        batch.drop_column("reply_due_at")
        batch.drop_column("first_replied_at")
        batch.drop_column("autoreplied_until")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("always_reachable")
    op.drop_table("channel_rules")
    op.drop_table("contact_hours")
