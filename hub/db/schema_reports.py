"""What the reports count, kept as messages land (``hub/report_counts.py``), so a report
over a year reads weeks and hours instead of every message.

Registered on ``hub.db.schema.metadata``; import them from ``hub.db.schema``. Instants
here are whole seconds since the epoch (UTC), so weeks and hours of any zone are integer
arithmetic in SQL and in Python.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from hub.db.columns import Id, metadata

waits = Table(
    "waits",
    metadata,
    Column("id", Id, primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("channel", String(40), nullable=False),
    Column("kind", String(5), nullable=False),
    Column("start_s", BigInteger, nullable=False),
    Column("owner_id", Id, nullable=True),
    Column("replied_s", BigInteger, nullable=True),
    Column("replied_by", Id, nullable=True),
    Column("response_s", BigInteger, nullable=True),
    Column("target_s", BigInteger, nullable=True),
    Index("ix_waits_start_s", "start_s"),
    Index("ix_waits_owner_id_start_s", "owner_id", "start_s"),
)
"""Every wait (``routing/reports.py``): a customer's messages until an agent's reply.
``owner_id``: the customer's owner when the reply was counted (while open: when it began);
``response_s``: business seconds to the reply; ``target_s``: its SLA, if any. Open waits
have no ``replied_s``."""

wait_weeks = Table(
    "wait_weeks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("week_s", BigInteger, nullable=False),
    Column("owner_id", Id, nullable=False),
    Column("channel", String(40), nullable=False),
    Column("kind", String(5), nullable=False),
    Column("replied", Integer, nullable=False),
    Column("met", Integer, nullable=False),
    Column("missed", Integer, nullable=False),
    Column("histogram", Text, nullable=False),
    Index("uq_wait_weeks_key", "week_s", "owner_id", "channel", "kind", unique=True),
)
"""Replied waits per UTC week (``week_s``: its Monday 00:00 UTC), owner (0: nobody's),
channel and kind: how many, within and past their SLA, and their response times as a
histogram (JSON: rounded seconds to count, ``routing.report_tallies.rounded``)."""

conversation_answers = Table(
    "conversation_answers",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True),
    Column("start_s", BigInteger, nullable=False),
    Column("owner_id", Id, nullable=True),
    Column("replied", Boolean, nullable=False),
    Column("by_owner", Boolean, nullable=False),
    Column("by_others", Boolean, nullable=False),
    Index("ix_conversation_answers_start_s", "start_s"),
)
"""Per conversation, from its first message counted: whether an agent ever replied, and
whether the customer's owner (when counted) and others answered its waits."""

message_hours = Table(
    "message_hours",
    metadata,
    Column("hour_s", BigInteger, primary_key=True),
    Column("held", Integer, nullable=False),
    Column("autoreplies", Integer, nullable=False),
)
"""Held customer messages and auto-replies per UTC hour (``hour_s``: its start)."""
