"""The WhatsApp window as agents see it: when each conversation's window closes, and a
notice on a reply (or a reply scheduled for the customer's hours) that leaves after it.

The connector decides at send time (the template instead of the reply); this tells
the agent when the reply is written, from the same rule (``routing.service_window``)
and the same time: the platform's stamp of the customer's last message on the channel.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from hub.conversations import customer_rules
from hub.db.schema import messages
from hub.serialize import iso
from routing.contact import quiet_until
from routing.service_window import service_window

WINDOWED_KINDS = frozenset({"whatsapp"})
"""Channel kinds whose platform allows free-form messages only inside the window."""


def last_inbound(
    conn: Connection, conversation_id: int, channels: Collection[str]
) -> dict[str, datetime]:
    """When the customer last wrote in the conversation on each of ``channels``."""
    if not channels:
        return {}
    stamp = messages.c.created_at.type
    wrote = func.max(func.coalesce(messages.c.sent_at, messages.c.created_at, type_=stamp))
    rows = conn.execute(
        select(messages.c.channel, wrote.label("at"))
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.direction == "in",
            messages.c.channel.in_(channels),
        )
        .group_by(messages.c.channel)
    )
    return {row.channel: row.at for row in rows}


def windows_of(
    conn: Connection, conversation_id: int, channels: Collection[str], now: datetime
) -> list[dict[str, Any]]:
    """Each windowed channel the customer wrote on: when its window closes, open now or not."""
    return [
        {"channel": channel, "closes_at": iso(window.closes_at), "open": window.open}
        for channel, wrote in sorted(last_inbound(conn, conversation_id, channels).items())
        if (window := service_window(wrote, now)).closes_at is not None
    ]


def with_hours_open(
    conn: Connection, customer_id: int, windows: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The windows, each with when a reply written now would wait until (the customer's
    contact hours on that channel): the agent must choose when those open after it closes."""
    return [
        {
            **window,
            "hours_open_at": iso(
                quiet_until(customer_rules(conn, customer_id, window["channel"]), now)
            ),
        }
        for window in windows
    ]


def window_notice(
    conn: Connection, reply: dict[str, Any], channels: Collection[str], now: datetime
) -> str | None:
    """What the agent must know of a reply that leaves (now, or when scheduled) on a
    windowed channel after its window closed: only a template can go then."""
    channel = reply.get("channel")
    if channel not in channels:
        return None
    scheduled = reply.get("release_at")
    leaves = datetime.fromisoformat(scheduled).astimezone(UTC) if scheduled else now
    wrote = last_inbound(conn, reply["conversation_id"], [channel]).get(channel)
    window = service_window(wrote, leaves)
    if window.open:
        return None
    if window.closes_at is None:
        return f"the customer never wrote on {channel}: only a template can be sent there"
    when = "closed" if window.closes_at <= now else "closes"
    return (
        f"the WhatsApp window {when} at {window.closes_at:%Y-%m-%d %H:%M} UTC and this reply "
        f"leaves at {leaves:%Y-%m-%d %H:%M} UTC: only the re-engagement template can be sent "
        "then, not this text"
    )
