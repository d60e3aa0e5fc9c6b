"""What the hub keeps for connectors: threads, quarantined input, durable state, on/off switches."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from connectors.base import Thread
from hub.db.database import Tx
from hub.db.schema import hub_state, messages, quarantine
from hub.repeats import platform_id
from hub.serialize import iso

STATE_PREFIX = "connector:"
SWITCH_PREFIX = "channel-enabled:"


def threads_of(
    wanted: Iterable[tuple[int, str]], conn: Connection
) -> dict[tuple[int, str], Thread]:
    """For each ``(conversation_id, channel)``: its messages' external ids (the customer's and
    what the platform gave ours), the first subject, and the customer's latest message's meta."""
    wanted = set(wanted)
    if not wanted:
        return {}
    rows = conn.execute(
        select(
            messages.c.conversation_id,
            messages.c.channel,
            messages.c.direction,
            messages.c.external_id,
            messages.c.meta,
        )
        .where(
            messages.c.conversation_id.in_({conversation for conversation, _ in wanted}),
            messages.c.channel.in_({channel for _, channel in wanted}),
        )
        .order_by(messages.c.id)
    ).all()
    found: dict[tuple[int, str], list[Row[Any]]] = {key: [] for key in wanted}
    for row in rows:
        found.get((row.conversation_id, row.channel), []).append(row)
    return {key: thread_from(found_rows) for key, found_rows in found.items()}


def thread_from(rows: list[Row[Any]]) -> Thread:
    ids: dict[str, None] = {}
    subject = None
    latest_inbound: dict[str, Any] = {}
    for row in rows:
        meta = row.meta or {}
        known = (
            platform_id(row.external_id, meta) if row.direction == "in" else meta.get("delivery_id")
        )
        if known:
            ids.pop(known, None)  # once, where it came last
            ids[known] = None
        subject = subject or meta.get("subject")
        if row.direction == "in":
            latest_inbound = meta
    return Thread(subject, tuple(ids), latest_inbound)


def store_quarantine(channel: str, raw: bytes, reason: str, tx: Tx) -> int:
    return tx.conn.execute(
        insert(quarantine).values(channel=channel, raw=raw, reason=reason, received_at=tx.now)
    ).inserted_primary_key[0]


def list_quarantine(conn: Connection, only: int | None = None) -> list[dict[str, Any]]:
    """Quarantined input, newest first (``only``: just that one)."""
    query = select(
        quarantine.c.id,
        quarantine.c.channel,
        quarantine.c.reason,
        quarantine.c.received_at,
        func.length(quarantine.c.raw).label("size"),
    ).order_by(quarantine.c.id.desc())
    if only is not None:
        query = query.where(quarantine.c.id == only)
    rows = conn.execute(query).all()
    return [
        {
            "id": row.id,
            "channel": row.channel,
            "reason": row.reason,
            "received_at": iso(row.received_at),
            "size": row.size,
        }
        for row in rows
    ]


def quarantined_raw(quarantine_id: int, conn: Connection) -> bytes | None:
    return conn.execute(select(quarantine.c.raw).where(quarantine.c.id == quarantine_id)).scalar()


def load_state(key: str, conn: Connection) -> str | None:
    return conn.execute(
        select(hub_state.c.value).where(hub_state.c.key == STATE_PREFIX + key)
    ).scalar()


def load_or_create_state(key: str, tx: Tx) -> str:
    """The hub's own value under ``key`` (its secret key), made the first time it is asked."""
    stored = tx.conn.execute(select(hub_state.c.value).where(hub_state.c.key == key)).scalar()
    if stored is None:
        stored = secrets.token_urlsafe(32)
        tx.conn.execute(insert(hub_state).values(key=key, value=stored))
    return stored


def save_state(key: str, value: str, tx: Tx) -> None:
    _put_state(STATE_PREFIX + key, value, tx)


def load_channel_switches(conn: Connection) -> dict[str, bool]:
    """Channels an admin switched on or off at runtime; this wins over the config file."""
    rows = conn.execute(
        select(hub_state.c.key, hub_state.c.value).where(
            hub_state.c.key.startswith(SWITCH_PREFIX, autoescape=True)
        )
    )
    return {key.removeprefix(SWITCH_PREFIX): value == "on" for key, value in rows}


def save_channel_switch(channel: str, enabled: bool, tx: Tx) -> None:
    _put_state(SWITCH_PREFIX + channel, "on" if enabled else "off", tx)


def _put_state(stored_key: str, value: str, tx: Tx) -> None:
    changed = tx.conn.execute(
        update(hub_state).where(hub_state.c.key == stored_key).values(value=value)
    ).rowcount
    if not changed:
        tx.conn.execute(insert(hub_state).values(key=stored_key, value=value))
