"""tags on conversations: the admins' list of tags and the tags each conversation carries

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)


def _fk(table: str, column: str, referred: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}")
    )


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", Id, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("name_key", sa.String(length=120), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name_key", name=op.f("uq_tags_name_key")),
    )
    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("tag_id", Id, nullable=False),
        sa.Column("added_by", Id, nullable=True),
        sa.Column("added_at", When, nullable=False),
        _fk("conversation_tags", "conversation_id", "conversations"),
        _fk("conversation_tags", "tag_id", "tags"),
        _fk("conversation_tags", "added_by", "agents"),
        sa.PrimaryKeyConstraint("conversation_id", "tag_id", name=op.f("pk_conversation_tags")),
    )
    op.create_index("ix_conversation_tags_tag_id", "conversation_tags", ["tag_id"])


def downgrade() -> None:
    op.drop_table("conversation_tags")
    op.drop_table("tags")
