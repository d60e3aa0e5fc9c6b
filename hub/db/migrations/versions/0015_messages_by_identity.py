"""messages by identity and channel: when a customer's number last wrote on a channel

WhatsApp's 24-hour window is per number, across conversations (hub/service_windows.py),
and a reaction is looked up in the sender's own messages (hub/reactions.py).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_identity_id_channel", "messages", ["identity_id", "channel"])


def downgrade() -> None:
    op.drop_index("ix_messages_identity_id_channel", table_name="messages")
