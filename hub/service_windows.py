"""The WhatsApp window as agents see it and as the outbox sends: when the customer's number
last wrote on the channel, when its window closes, and a notice on a reply (or a reply
scheduled for the customer's hours) that leaves after it.

The window belongs to the customer's number and the business number, not to a
conversation: a message in any conversation reopens it. :func:`last_inbound` is the one
query for it (the outbox gives it to the connector as ``OutboundMessage.last_inbound_at``;
the connector decides at send time, the template instead of the reply), and the inbox
reads the same, with the same rule (``routing.service_window``), when a reply is written.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from hub.db.schema import conversations, identities, messages
from hub.serialize import iso
from routing.service_window import service_window

WINDOWED_KINDS = frozenset({"whatsapp"})
"""Channel kinds whose platform allows free-form messages only inside the window."""

Wanted = Collection[tuple[int, str]]
"""(identity id, channel) pairs."""


def last_inbound(conn: Connection, wanted: Wanted) -> dict[tuple[int, str], datetime]:
    """When each identity last wrote on each channel of ``wanted``, in any conversation: the
    platform's stamp of its latest message there (``sent_at``: WhatsApp's ``timestamp``,
    also kept in meta), else when the hub stored it."""
    wanted = set(wanted)
    if not wanted:
        return {}
    stamp = messages.c.created_at.type
    wrote = func.max(func.coalesce(messages.c.sent_at, messages.c.created_at, type_=stamp))
    rows = conn.execute(
        select(messages.c.identity_id, messages.c.channel, wrote.label("at"))
        .where(
            messages.c.direction == "in",
            messages.c.identity_id.in_({identity for identity, _ in wanted}),
            messages.c.channel.in_({channel for _, channel in wanted}),
        )
        .group_by(messages.c.identity_id, messages.c.channel)
    )
    return {key: row.at for row in rows if (key := (row.identity_id, row.channel)) in wanted}


def windows_of(
    conn: Connection, conversation_id: int, channels: Collection[str], now: datetime
) -> list[dict[str, Any]]:
    """Each of the customer's identities that wrote on a windowed channel (in this
    conversation or another): when its window there closes, open now or not."""
    customer_identities = conn.execute(
        select(identities.c.id)
        .join(conversations, conversations.c.customer_id == identities.c.customer_id)
        .where(conversations.c.id == conversation_id)
    ).scalars()
    wanted = {(identity, channel) for identity in customer_identities for channel in channels}
    return [
        {
            "channel": channel,
            "identity_id": identity,
            "closes_at": iso(window.closes_at),
            "open": window.open,
        }
        for (identity, channel), wrote in sorted(
            last_inbound(conn, wanted).items(), key=lambda item: (item[0][1], item[0][0])
        )
        if (window := service_window(wrote, now)).closes_at is not None
    ]


def window_notice(
    conn: Connection, reply: dict[str, Any], channels: Collection[str], now: datetime
) -> str | None:
    """What the agent must know of a reply that leaves (now, or when scheduled) on a
    windowed channel after its window closed: only a template can go then."""
    channel, identity = reply.get("channel"), reply.get("identity_id")
    if channel not in channels or identity is None:
        return None
    scheduled = reply.get("release_at")
    leaves = datetime.fromisoformat(scheduled).astimezone(UTC) if scheduled else now
    wrote = last_inbound(conn, [(identity, channel)]).get((identity, channel))
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
