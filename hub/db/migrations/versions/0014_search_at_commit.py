"""search index written once per commit on SQLite: triggers queue ids, the commit indexes them

FTS5 writes a segment at every statement journal opened after it was written
in a transaction, so indexing in each trigger cost a segment (and its merges)
per message. PostgreSQL is unchanged.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from hub.db.search_index import index_at_commit, index_in_each_statement

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    index_at_commit(op.get_bind())


def downgrade() -> None:
    index_in_each_statement(op.get_bind())
