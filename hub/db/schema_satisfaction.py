"""The satisfaction question asked once per resolved conversation, and its answer.

Registered on ``hub.db.schema.metadata``; import it from ``hub.db.schema``.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from hub.db.columns import Id, UtcDateTime, metadata

satisfaction_surveys = Table(
    "satisfaction_surveys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, unique=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("owner_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("channel", String(40), nullable=False),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("score", Integer, nullable=True),
    Column("comment", Text, nullable=True),
    # Covering what the reports count (satisfaction_scores): read from the index alone.
    Index(
        "ix_satisfaction_surveys_created_at",
        "created_at",
        "owner_id",
        "channel",
        "score",
        "answered_at",
    ),
)
"""One question per conversation (the unique conversation makes "once" hold through a
reopen and a second resolve); its message is the outbox's, which sets its ``sent_at``.
``owner_id`` is the customer's owner when it was resolved."""
