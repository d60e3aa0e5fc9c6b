"""What the inbox lists: conversations with a preview, held count and escalation marker,
search, the Due soon, Overdue, Held and Scheduled views, and the customer panel.

Read units only. Previews and counts are computed here, at read time, for the
conversations on screen, so the ingest hot path does no extra work per message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, String, and_, func, or_, select
from sqlalchemy.orm import aliased

from hub.auth import Principal
from hub.contact import rules_for
from hub.conversations import conversation_summary_query, summary_json
from hub.customers import get_customer
from hub.db.schema import agents, conversations, customers, identities, messages
from hub.serialize import iso
from hub.tags import tagged, with_tags
from routing.contact import contact_window
from routing.escalation import stage_shown

PREVIEW_CHARS = 160
# Replies the customer has not been sent (waiting for their hours, or withdrawn): no preview.
UNSENT_STATES = ("scheduled", "cancelled")
VIEW_LIMIT = 500


@dataclass(frozen=True)
class ConversationFilter:
    state: str | None
    """open, resolved, waiting, due_soon, overdue, or None for every state."""
    everyone: bool
    search: str | None
    limit: int
    tag: int | None = None
    """Only conversations carrying this tag."""


def list_conversations(
    principal: Principal, wanted: ConversationFilter, now: datetime, conn: Connection
) -> list[dict[str, Any]]:
    """My conversations (or, for an admin asking, everyone's), newest first; due soon and
    overdue: soonest due first. Each with ``last_message`` (a preview), ``held_count``,
    ``escalation`` (``routing.escalation.stage_shown`` at ``now``) and ``tags``."""
    query = conversation_summary_query()
    if not (wanted.everyone and principal.is_admin):
        query = query.where(handled_or_owned_by(principal.agent_id))
    query = _in_state(query, wanted.state, now)
    if wanted.search:
        query = query.where(_matching(wanted.search))
    if wanted.tag is not None:
        query = query.where(tagged(wanted.tag))
    rows = conn.execute(query.limit(wanted.limit)).all()
    return with_tags(conn, with_previews(conn, [escalation_json(row, now) for row in rows]))


def handled_or_owned_by(agent_id: int) -> Any:
    """The conversations an agent sees (``hub.conversations.check_access``'s rule): those
    they handle (as a backup, too) and those of customers they own."""
    return or_(conversations.c.assignee_id == agent_id, customers.c.owner_id == agent_id)


def escalation_json(row: Any, now: datetime) -> dict[str, Any]:
    """A conversation's summary with the escalation marker it shows ``now``."""
    due = row.reply_due_at if row.state == "open" else None
    stage = stage_shown(due, row.due_soon_notified_at is not None, now)
    return {**summary_json(row), "escalation": stage.value if stage else None}


def _in_state(query: Select, state: str | None, now: datetime) -> Select:
    newest_first = (conversations.c.last_message_at.desc(), conversations.c.id.desc())
    if state in ("due_soon", "overdue"):
        return query.where(conversations.c.state == "open", _escalated(state, now)).order_by(
            conversations.c.reply_due_at, conversations.c.id
        )
    if state == "waiting":
        query = query.where(conversations.c.state == "open", conversations.c.assignee_id.is_(None))
    elif state:
        query = query.where(conversations.c.state == state)
    return query.order_by(*newest_first)


def _escalated(stage: str, now: datetime) -> Any:
    """The SQL twin of ``routing.escalation.stage_shown`` for an open conversation."""
    if stage == "overdue":
        return conversations.c.reply_due_at <= now
    return and_(
        conversations.c.reply_due_at > now, conversations.c.due_soon_notified_at.is_not(None)
    )


def _contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match; ``%`` and ``_`` in the text match themselves."""
    return func.lower(column, type_=String).contains(text.lower(), autoescape=True)


def _matching(text: str) -> Any:
    """A conversation whose customer's name or address, or one of whose messages, has ``text``.

    The message text is scanned, not indexed: fine for one hub's history, the
    first thing to index (trigrams on PostgreSQL) if it grows large.
    """
    by_address = select(identities.c.customer_id).where(_contains(identities.c.address, text))
    by_text = select(messages.c.conversation_id).where(_contains(messages.c.text, text))
    return or_(
        _contains(customers.c.name, text),
        customers.c.id.in_(by_address),
        conversations.c.id.in_(by_text),
    )


def with_previews(conn: Connection, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the last customer-visible message and the number of held messages to each."""
    ids = [summary["id"] for summary in summaries]
    previews = _last_messages(conn, ids) if ids else {}
    held = _held_counts(conn, ids) if ids else {}
    for summary in summaries:
        summary["last_message"] = previews.get(summary["id"])
        summary["held_count"] = held.get(summary["id"], 0)
    return summaries


def _last_messages(conn: Connection, ids: list[int]) -> dict[int, dict[str, Any]]:
    latest = (
        select(func.max(messages.c.id))
        .where(
            messages.c.conversation_id.in_(ids),
            messages.c.direction != "note",
            messages.c.state.not_in(UNSENT_STATES),
        )
        .group_by(messages.c.conversation_id)
    )
    rows = conn.execute(
        select(
            messages.c.conversation_id,
            messages.c.direction,
            messages.c.channel,
            messages.c.state,
            messages.c.author_id,
            func.substr(messages.c.text, 1, PREVIEW_CHARS).label("text"),
        ).where(messages.c.id.in_(latest))
    )
    return {
        row.conversation_id: {
            "direction": row.direction,
            "channel": row.channel,
            "state": row.state,
            "author_id": row.author_id,
            "text": row.text,
        }
        for row in rows
    }


def _held_counts(conn: Connection, ids: list[int]) -> dict[int, int]:
    rows = conn.execute(
        select(messages.c.conversation_id, func.count())
        .where(messages.c.conversation_id.in_(ids), messages.c.state == "held")
        .group_by(messages.c.conversation_id)
    )
    return {conversation_id: count for conversation_id, count in rows}


def waiting_messages(state: str, agent_id: int | None, conn: Connection) -> list[dict[str, Any]]:
    """Messages in ``state`` (held: for contact hours; scheduled: for the customer's hours),
    soonest release first. ``agent_id``: only those of that agent's customers and
    conversations, and replies the agent wrote; ``None``: everyone's."""
    query = (
        select(
            messages.c.id,
            messages.c.conversation_id,
            messages.c.channel,
            messages.c.text,
            messages.c.created_at,
            messages.c.release_at,
            messages.c.author_id,
            agents.c.name.label("author_name"),
            customers.c.id.label("customer_id"),
            customers.c.name.label("customer_name"),
            customers.c.owner_id,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .outerjoin(agents, agents.c.id == messages.c.author_id)
        .where(messages.c.state == state)
        .order_by(messages.c.release_at, messages.c.id)
        .limit(VIEW_LIMIT)
    )
    if agent_id is not None:
        query = query.where(
            or_(
                customers.c.owner_id == agent_id,
                conversations.c.assignee_id == agent_id,
                messages.c.author_id == agent_id,
            )
        )
    return [
        {**row, "created_at": iso(row["created_at"]), "release_at": iso(row["release_at"])}
        for row in conn.execute(query).mappings()
    ]


def customer_panel(customer_id: int, now: datetime, conn: Connection) -> dict[str, Any]:
    """A customer with owner and backup by name and whether they can be reached ``now``.

    The hours are those that apply where the customer last wrote (their own
    agreed hours, else that channel's, else the hub's default).
    """
    customer = get_customer(conn, customer_id)
    owner, backup = aliased(agents), aliased(agents)
    row = conn.execute(
        select(
            customers.c.always_reachable,
            owner.c.name.label("owner_name"),
            backup.c.name.label("backup_name"),
        )
        .outerjoin(owner, owner.c.id == customers.c.owner_id)
        .outerjoin(backup, backup.c.id == customers.c.backup_id)
        .where(customers.c.id == customer_id)
    ).one()
    channel = _latest_channel(conn, customer_id)
    window = contact_window(rules_for(conn, customer_id, channel or "", row.always_reachable), now)
    contact = {key: iso(v) if isinstance(v, datetime) else v for key, v in asdict(window).items()}
    return {
        **customer,
        "owner": _agent_ref(customer["owner_id"], row.owner_name),
        "backup": _agent_ref(customer["backup_id"], row.backup_name),
        "contact": {**contact, "now": iso(now), "channel": channel},
    }


def _agent_ref(agent_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if agent_id is None else {"id": agent_id, "name": name}


def _latest_channel(conn: Connection, customer_id: int) -> str | None:
    return conn.execute(
        select(conversations.c.last_channel)
        .where(conversations.c.customer_id == customer_id)
        .order_by(conversations.c.last_message_at.desc(), conversations.c.id.desc())
        .limit(1)
    ).scalar()
