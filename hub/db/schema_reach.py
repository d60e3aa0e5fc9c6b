"""The tables that make an owner reachable: absences, notices and their batches, chat links.

Registered on ``hub.db.schema.metadata``; import them from ``hub.db.schema``.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text

from hub.db.columns import Id, UtcDateTime, leased_columns, metadata

agent_absences = Table(
    "agent_absences",
    metadata,
    Column("id", Id, primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("reason", String(40), nullable=True),
    Column("handed_over_at", UtcDateTime, nullable=True),
    Column("handed_back_at", UtcDateTime, nullable=True),
    Column("created_by", Id, ForeignKey("agents.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_agent_absences_agent_id_ends_at", "agent_id", "ends_at"),
)
"""An agent's dated absences (holiday, sick day); their own hours are in ``contact_hours``."""

agent_notices = Table(
    "agent_notices",
    metadata,
    Column("id", Id, primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=True),
    Column("excerpt", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("send_after", UtcDateTime, nullable=False),
    Index("ix_agent_notices_send_after", "send_after"),
    Index("ix_agent_notices_conversation_id", "conversation_id"),
    Index("ix_agent_notices_customer_id", "customer_id"),
)
"""Something an agent should hear of (a customer wrote, a reply is due); deleted once a
notification (``notice_batches``) carries it."""

notice_batches = Table(
    "notice_batches",
    metadata,
    Column("id", Id, primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("address", String(320), nullable=False),
    Column("text", Text, nullable=False),
    *leased_columns(),
    Column("sent_at", UtcDateTime, nullable=True),
    Index("ix_notice_batches_state_next_attempt_at", "state", "next_attempt_at"),
)
"""One notification to one agent on their chosen channel, durable and retried."""

agent_link_codes = Table(
    "agent_link_codes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False),
    Column("channel", String(40), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
)
"""One-time codes an agent sends the hub's bot to link their chat for notifications."""
