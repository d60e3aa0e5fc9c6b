"""reply uploads: files agents upload for a reply, kept in attachments until it is sent

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import hub.db.schema

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hub.db.schema.UtcDateTime(timezone=True)


def upgrade() -> None:
    # attachments has no triggers, so SQLite's batch copy loses nothing.
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("message_id", existing_type=Id, nullable=True)
        batch.add_column(sa.Column("conversation_id", Id, nullable=True))
        batch.add_column(sa.Column("uploaded_by", Id, nullable=True))
        batch.add_column(sa.Column("uploaded_at", When, nullable=True))
        batch.create_foreign_key(
            op.f("fk_attachments_conversation_id_conversations"),
            "conversations",
            ["conversation_id"],
            ["id"],
        )
        batch.create_foreign_key(
            op.f("fk_attachments_uploaded_by_agents"), "agents", ["uploaded_by"], ["id"]
        )
        batch.create_index("ix_attachments_conversation_id", ["conversation_id"])
    unsent = sa.text("message_id IS NULL")
    op.create_index(
        "ix_attachments_unsent_uploaded_at",
        "attachments",
        ["uploaded_at"],
        sqlite_where=unsent,
        postgresql_where=unsent,
    )


def downgrade() -> None:
    op.drop_index("ix_attachments_unsent_uploaded_at", table_name="attachments")
    op.execute("DELETE FROM attachments WHERE message_id IS NULL")
    with op.batch_alter_table("attachments") as batch:
        batch.drop_index("ix_attachments_conversation_id")
        batch.drop_constraint(op.f("fk_attachments_uploaded_by_agents"), type_="foreignkey")
        batch.drop_constraint(
            op.f("fk_attachments_conversation_id_conversations"), type_="foreignkey"
        )
        batch.drop_column("uploaded_at")
        batch.drop_column("uploaded_by")
        batch.drop_column("conversation_id")
        batch.alter_column("message_id", existing_type=Id, nullable=False)
