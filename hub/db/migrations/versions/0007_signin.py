"""sign-in: two-factor secrets and recovery codes, attempts counted by the sign-in limits

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("agents", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("agents", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", When, nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_recovery_codes_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint(
            "agent_id", "code_hash", name=op.f("uq_recovery_codes_agent_id_code_hash")
        ),
    )
    op.create_table(
        "signin_attempts",
        sa.Column("id", Id, nullable=False),
        sa.Column("account", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_attempts")),
    )
    op.create_index("ix_signin_attempts_account_at", "signin_attempts", ["account", "at"])
    op.create_index("ix_signin_attempts_client_at", "signin_attempts", ["client", "at"])
    op.create_index("ix_signin_attempts_at", "signin_attempts", ["at"])


def downgrade() -> None:
    op.drop_table("signin_attempts")
    op.drop_table("recovery_codes")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret")
