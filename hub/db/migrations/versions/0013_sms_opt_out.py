"""sms opt-out: an identity that texted STOP to a channel, and when

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

When = hub.db.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMNs: no table copy on SQLite, so the search triggers on identities stay.
    op.add_column("identities", sa.Column("opted_out_channel", sa.String(length=40)))
    op.add_column("identities", sa.Column("opted_out_at", When))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy, for the same reason.
    op.execute("ALTER TABLE identities DROP COLUMN opted_out_at")
    op.execute("ALTER TABLE identities DROP COLUMN opted_out_channel")
