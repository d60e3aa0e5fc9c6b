"""the owner, reachable: absences, notifications, escalation markers, agreed channel, zone

Agents' absences and notification settings, notices and their batches, chat link
codes; customers' agreed channel, zone and language; conversations' escalation markers.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}")
    )


def upgrade() -> None:
    op.add_column("agents", sa.Column("notify", sa.JSON(), nullable=True))
    for name, column_type in (
        ("agreed_channel", sa.String(length=40)),
        ("zone", sa.String(length=64)),
        ("locale", sa.String(length=20)),
    ):
        op.add_column("customers", sa.Column(name, column_type, nullable=True))
    for name in ("due_soon_notified_at", "overdue_notified_at"):
        op.add_column("conversations", sa.Column(name, When, nullable=True))
    op.create_table(
        "agent_absences",
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("starts_at", When, nullable=False),
        sa.Column("ends_at", When, nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("handed_over_at", When, nullable=True),
        sa.Column("handed_back_at", When, nullable=True),
        sa.Column("created_by", Id, nullable=True),
        sa.Column("created_at", When, nullable=False),
        _fk("agent_absences", "agent_id", "agents"),
        _fk("agent_absences", "created_by", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_absences")),
    )
    op.create_index("ix_agent_absences_agent_id_ends_at", "agent_absences", ["agent_id", "ends_at"])
    op.create_table(
        "notice_batches",
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", When, nullable=False),
        sa.Column("lease_until", When, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("sent_at", When, nullable=True),
        _fk("notice_batches", "agent_id", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_batches")),
    )
    op.create_index(
        "ix_notice_batches_state_next_attempt_at", "notice_batches", ["state", "next_attempt_at"]
    )
    op.create_table(
        "agent_notices",
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("conversation_id", Id, nullable=True),
        sa.Column("customer_id", Id, nullable=True),
        sa.Column("excerpt", sa.Text(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("send_after", When, nullable=False),
        _fk("agent_notices", "agent_id", "agents"),
        _fk("agent_notices", "conversation_id", "conversations"),
        _fk("agent_notices", "customer_id", "customers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_notices")),
    )
    for column in ("send_after", "conversation_id", "customer_id"):
        op.create_index(f"ix_agent_notices_{column}", "agent_notices", [column])
    op.create_table(
        "agent_link_codes",
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("used_at", When, nullable=True),
        _fk("agent_link_codes", "agent_id", "agents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_link_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_agent_link_codes_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("agent_link_codes")
    op.drop_table("agent_notices")
    op.drop_table("notice_batches")
    op.drop_table("agent_absences")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("overdue_notified_at")
        batch.drop_column("due_soon_notified_at")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("locale")
        batch.drop_column("zone")
        batch.drop_column("agreed_channel")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("notify")
