"""full-text search: FTS5 tables and triggers on SQLite, GIN indexes on PostgreSQL

Messages (text and email subject, notes too), customers' names and their
identities' addresses; the rows already stored are indexed here.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

from hub.db.search_index import create_search_index, drop_search_index

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_search_index(op.get_bind())


def downgrade() -> None:
    drop_search_index(op.get_bind())
