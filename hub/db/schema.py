"""Tables of the hub (SQLAlchemy Core). Alembic migrations must match this file and
``hub/db/schema_reach.py`` (the reachable owner's tables), ``hub/db/schema_tags.py``
(tags on conversations), ``hub/db/schema_satisfaction.py`` (the satisfaction
question) and ``hub/db/schema_reports.py`` (what the reports count), whose tables are
importable from here too."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from hub.db.columns import Id as Id
from hub.db.columns import UtcDateTime as UtcDateTime
from hub.db.columns import leased_columns
from hub.db.columns import metadata as metadata
from hub.db.schema_reach import agent_absences as agent_absences
from hub.db.schema_reach import agent_link_codes as agent_link_codes
from hub.db.schema_reach import agent_notices as agent_notices
from hub.db.schema_reach import notice_batches as notice_batches
from hub.db.schema_reports import conversation_answers as conversation_answers
from hub.db.schema_reports import message_hours as message_hours
from hub.db.schema_reports import wait_weeks as wait_weeks
from hub.db.schema_reports import waits as waits
from hub.db.schema_satisfaction import satisfaction_surveys as satisfaction_surveys
from hub.db.schema_tags import conversation_tags as conversation_tags
from hub.db.schema_tags import tags as tags

agents = Table(
    "agents",
    metadata,
    Column("id", Id, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(10), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("away", Boolean, nullable=False, default=False),
    Column("backup_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("notify", JSON, nullable=True),
)
"""``totp_secret``: the agent's two-factor secret (base32), set once enrolment is confirmed;
``totp_last_step``: the time step of the last code accepted, so no code works twice."""

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner_id", Id, ForeignKey("agents.id"), nullable=True, index=True),
    Column("backup_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("always_reachable", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("agreed_channel", String(40), nullable=True),
    Column("zone", String(64), nullable=True),
    Column("locale", String(20), nullable=True),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("address", String(320), nullable=False),
    Column("display_name", String(200), nullable=True),
    Column("last_channel", String(40), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("verified_by", String(20), nullable=True),
    Column("first_channel", String(40), nullable=True),
    Column("opted_out_channel", String(40), nullable=True),
    Column("opted_out_at", UtcDateTime, nullable=True),
    UniqueConstraint("kind", "address"),
)
"""``verified_by`` says what proved the address is this customer's (see ``hub.trust``); NULL:
nothing did. ``first_channel``: where it was first seen (API channels speak only for their own).
``opted_out_channel``: the channel the person told to stop (an SMS STOP), since
``opted_out_at``; nothing is sent to them there until they opt back in (``hub/opt_outs.py``)."""

identity_claims = Table(
    "identity_claims",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("address", String(320), nullable=False),
    Column("channel", String(40), nullable=True),
    Column("reason", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("customer_id", "kind", "address"),
    Index("ix_identity_claims_kind_address", "kind", "address"),
)
"""What a customer says they are without proof (an email typed in the widget, the From of mail
that failed authentication): shown to agents, never linked until verified or merged by a person."""

verification_codes = Table(
    "verification_codes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("channel", String(40), nullable=False),
    Column("visitor", String(320), nullable=False),
    Column("address", String(320), nullable=False),
    Column("client", String(64), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index("ix_verification_codes_address_created_at", "address", "created_at"),
    Index("ix_verification_codes_client_created_at", "client", "created_at"),
    Index("ix_verification_codes_visitor_created_at", "visitor", "created_at"),
)
"""One-time codes sent to an address a web chat visitor claims; only a keyed hash is kept."""

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("state", String(10), nullable=False),
    Column("assignee_id", Id, ForeignKey("agents.id"), nullable=True, index=True),
    Column("last_channel", String(40), nullable=True),
    Column("last_identity_id", Id, ForeignKey("identities.id"), nullable=True),
    Column("last_message_at", UtcDateTime, nullable=False),
    Column("unread_count", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("autoreplied_until", UtcDateTime, nullable=True),
    Column("first_replied_at", UtcDateTime, nullable=True),
    Column("reply_due_at", UtcDateTime, nullable=True),
    Column("due_soon_notified_at", UtcDateTime, nullable=True),
    Column("overdue_notified_at", UtcDateTime, nullable=True),
    Index("ix_conversations_customer_id", "customer_id"),
    Index("ix_conversations_reply_due_at", "reply_due_at"),
    Index(
        "uq_conversations_one_open_per_customer",
        "customer_id",
        unique=True,
        sqlite_where=text("state = 'open'"),
        postgresql_where=text("state = 'open'"),
    ),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("direction", String(4), nullable=False),
    Column("channel", String(40), nullable=True),
    Column("identity_id", Id, ForeignKey("identities.id"), nullable=True),
    Column("external_id", String(255), nullable=True),
    Column("author_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("text", Text, nullable=False),
    Column("html", Text, nullable=True),
    Column("state", String(12), nullable=False),
    Column("error", Text, nullable=True),
    Column("meta", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("release_at", UtcDateTime, nullable=True),
    UniqueConstraint("channel", "external_id"),
    Index("ix_messages_state_release_at", "state", "release_at"),
    Index("ix_messages_identity_id_channel", "identity_id", "channel"),
    Index(
        "ix_messages_failed_created_at",
        "created_at",
        sqlite_where=text("state = 'failed'"),
        postgresql_where=text("state = 'failed'"),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False, unique=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("channel", String(40), nullable=False),
    *leased_columns(),
    Index("ix_outbox_due", "state", "next_attempt_at"),
    Index("ix_outbox_conversation_id", "conversation_id", "id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("kind", String(40), nullable=False),
    Column("conversation_id", Id, nullable=True),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_events_agent_id_id", "agent_id", "id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True),
    Column("actor_id", Id, ForeignKey("agents.id"), nullable=True),
    Column("action", String(60), nullable=False),
    Column("subject_type", String(40), nullable=False),
    Column("subject_id", Id, nullable=False),
    Column("details", JSON, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_audit_log_subject", "subject_type", "subject_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", Id, primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    UniqueConstraint("agent_id", "code_hash"),
)
"""Two-factor recovery codes, each usable once, stored as their SHA-256 only."""

signin_attempts = Table(
    "signin_attempts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("account", String(320), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_signin_attempts_account_at", "account", "at"),
    Index("ix_signin_attempts_client_at", "client", "at"),
    Index("ix_signin_attempts_at", "at"),
)
"""Sign-in attempts that have not succeeded (failures, and those still being checked):
what the sign-in limits count. Pruned once older than the longest limit's window."""

contact_hours = Table(
    "contact_hours",
    metadata,
    Column("id", Id, primary_key=True),
    Column("scope", String(10), nullable=False),
    Column("subject", String(40), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("scope", "subject"),
)
"""Calendars: ``scope`` is default (subject ""), channel (its name) or customer (its id)."""

channel_rules = Table(
    "channel_rules",
    metadata,
    Column("channel", String(40), primary_key=True),
    Column("never_hold", Boolean, nullable=False),
    Column("autoreply_template", Text, nullable=True),
    Column("first_response_minutes", Integer, nullable=True),
    Column("next_response_minutes", Integer, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""Per channel, editable at runtime; the channel "*" holds the defaults."""

attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=True),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("content_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=True),
    Column("uploaded_by", Id, ForeignKey("agents.id"), nullable=True),
    Column("uploaded_at", UtcDateTime, nullable=True),
    UniqueConstraint("message_id", "position"),
    Index("ix_attachments_conversation_id", "conversation_id"),
    Index(
        "ix_attachments_unsent_uploaded_at",
        "uploaded_at",
        sqlite_where=text("message_id IS NULL"),
        postgresql_where=text("message_id IS NULL"),
    ),
)
"""Files that came with a message; ``data`` is NULL for one over the size limit (listed only).

A file an agent uploaded for a reply (``hub/uploads.py``) names its conversation and
uploader; its ``message_id`` stays NULL until the reply that sends it is stored (the
partial index finds the unsent ones older than a day, which every upload deletes)."""

canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", Id, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_by", Id, ForeignKey("agents.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)
"""Reply snippets admins keep; agents insert them into the reply box."""

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Id, primary_key=True),
    Column("channel", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)
"""Input a connector could not turn into a message, kept with the reason for admins."""

hub_state = Table(
    "hub_state",
    metadata,
    Column("key", String(80), primary_key=True),
    Column("value", Text, nullable=False),
)
