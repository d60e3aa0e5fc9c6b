"""identity trust: what proved an identity, claims, one-time verification codes

Revision ID: 0006
Revises: 0005

Identities that came in as a message's sender (they have a last channel) were
proven by that channel; those that were only linked (an email typed in the web
chat, a profile email) are marked unverified, since nothing checked them.
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch:
        batch.add_column(sa.Column("verified_by", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("first_channel", sa.String(length=40), nullable=True))
    op.execute(
        "UPDATE identities SET verified_by = 'channel', first_channel = last_channel "
        "WHERE last_channel IS NOT NULL"
    )
    op.create_table(
        "identity_claims",
        sa.Column("id", Id, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_identity_claims_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_claims")),
        sa.UniqueConstraint(
            "customer_id",
            "kind",
            "address",
            name=op.f("uq_identity_claims_customer_id_kind_address"),
        ),
    )
    op.create_index(
        op.f("ix_identity_claims_customer_id"), "identity_claims", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_identity_claims_kind_address", "identity_claims", ["kind", "address"], unique=False
    )
    op.create_table(
        "verification_codes",
        sa.Column("id", Id, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("visitor", sa.String(length=320), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("expires_at", When, nullable=False),
        sa.Column("used_at", When, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
    )
    for column in ("address", "client", "visitor"):
        op.create_index(
            f"ix_verification_codes_{column}_created_at",
            "verification_codes",
            [column, "created_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("verification_codes")
    op.drop_table("identity_claims")
    with op.batch_alter_table("identities") as batch:
        batch.drop_column("first_channel")
        batch.drop_column("verified_by")
