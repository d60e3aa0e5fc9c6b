"""satisfaction: the one question asked after a conversation is resolved, and its answer

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)
TABLE = "satisfaction_surveys"


def _fk(column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{TABLE}_{column}_{referred}")
    )


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", Id, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("owner_id", Id, nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("answered_at", When, nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        _fk("conversation_id", "conversations"),
        _fk("customer_id", "customers"),
        _fk("owner_id", "agents"),
        _fk("message_id", "messages"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("conversation_id", name=op.f(f"uq_{TABLE}_conversation_id")),
    )
    op.create_index(
        f"ix_{TABLE}_created_at",
        TABLE,
        ["created_at", "owner_id", "channel", "score", "answered_at"],
    )


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_created_at", table_name=TABLE)
    op.drop_table(TABLE)
