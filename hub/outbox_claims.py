"""What the outbox sends: due rows claimed with a lease, each as the connector's
:class:`OutboundMessage` with everything it needs (who it goes to, the thread, when the
recipient last wrote), so a connector never asks the hub."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import Connection, and_, exists, select
from sqlalchemy.orm import aliased

from connectors.base import Address, Delivery, OutboundMessage
from hub.channel_support import threads_of
from hub.db.database import Tx
from hub.db.locks import skipping_locked
from hub.db.schema import agents, customers, identities, messages, outbox
from hub.leases import due, take_lease
from hub.opt_outs import opted_out_reason
from hub.service_windows import last_inbound
from hub.uploads import files_of


@dataclass(frozen=True)
class Claim:
    outbox_id: int
    attempts: int
    message: OutboundMessage
    refused: str | None = None
    """Why it must not leave at all (the customer opted out of the channel): failed unsent."""
    identity_id: int | None = None
    """The identity it goes to."""


def claim_due(
    lease: timedelta, limit: int, tx: Tx, busy: Collection[int] = frozenset()
) -> list[Claim]:
    """Lease what is due, but the outbox rows in ``busy`` (this process is sending them,
    however long it takes); each claim's message carries what earlier attempts delivered.

    Its thread is loaded after the claim (:func:`with_threads`), by a read: the
    write stays short.
    """
    earlier = aliased(outbox)
    # A reply scheduled for the customer's hours (never tried, not yet due) does
    # not hold back a later one the agent chose to send now; anything tried does.
    waiting_for_hours = and_(
        earlier.c.state == "pending",
        earlier.c.attempts == 0,
        earlier.c.next_attempt_at > tx.now,
    )
    blocked_by_earlier = exists().where(
        earlier.c.conversation_id == outbox.c.conversation_id,
        earlier.c.id < outbox.c.id,
        earlier.c.state.in_(("pending", "sending")),
        ~waiting_for_hours,
    )
    query = (
        select(
            outbox.c.id,
            outbox.c.attempts,
            messages.c.id.label("message_id"),
            messages.c.conversation_id,
            messages.c.channel,
            messages.c.text,
            messages.c.html,
            messages.c.meta,
            messages.c.created_at,
            messages.c.identity_id,
            identities.c.kind,
            identities.c.address,
            identities.c.opted_out_channel,
            identities.c.opted_out_at,
            customers.c.name.label("customer_name"),
            agents.c.name.label("author_name"),
        )
        .join(messages, messages.c.id == outbox.c.message_id)
        .join(identities, identities.c.id == messages.c.identity_id)
        .join(customers, customers.c.id == identities.c.customer_id)
        .outerjoin(agents, agents.c.id == messages.c.author_id)
        .where(due(outbox, tx.now), ~blocked_by_earlier, outbox.c.id.not_in(busy))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    rows = tx.conn.execute(skipping_locked(query, outbox, tx.conn)).all()
    if rows:
        take_lease(tx, outbox, [r.id for r in rows], lease)
    return [
        Claim(
            row.id,
            row.attempts + 1,
            OutboundMessage(
                message_id=row.message_id,
                conversation_id=row.conversation_id,
                channel=row.channel,
                to=Address(row.kind, row.address),
                text=row.text,
                html=row.html,
                written_at=row.created_at,
                automatic=is_automatic(row.meta or {}),
                choices=choices_of(row.meta or {}),
                delivered=Delivery.from_meta(row.meta or {}),
                customer_name=known_name(row.customer_name, row.address),
                author_name=row.author_name,
            ),
            opted_out_reason(row.channel, row.opted_out_at)
            if row.opted_out_channel == row.channel
            else None,
            row.identity_id,
        )
        for row in rows
    ]


def known_name(name: str | None, address: str) -> str | None:
    """The customer's name, ``None`` when the hub knows them only by the address (a
    customer who gave no name is named by where they wrote from)."""
    return name if name and name != address else None


def is_automatic(meta: Mapping[str, object]) -> bool:
    """The hub wrote it on its own (an auto-reply, the satisfaction question): marked so
    that auto-responders (out of office) do not answer it."""
    return bool(meta.get("autoreply") or meta.get("satisfaction"))


def choices_of(meta: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """The satisfaction question's scores as link buttons (label, url), each opening its
    answer page with that score chosen; the text carries the link too."""
    url = meta.get("answer_url")
    if not isinstance(url, str):
        return ()
    return tuple((str(score), f"{url}?score={score}") for score in range(1, 6))


def with_threads(claims: list[Claim], conn: Connection) -> list[Claim]:
    """The claims with each message's thread on its channel (references, Slack's thread)
    and when its recipient last wrote there (WhatsApp's window). Files are loaded by
    :func:`with_files`, one message at a time, as it is sent."""
    threads = threads_of({(c.message.conversation_id, c.message.channel) for c in claims}, conn)
    wrote = last_inbound(conn, {(c.identity_id, c.message.channel) for c in claims})
    return [
        replace(
            claim,
            message=replace(
                claim.message,
                thread=threads[claim.message.conversation_id, claim.message.channel],
                last_inbound_at=wrote.get((claim.identity_id, claim.message.channel)),
            ),
        )
        for claim in claims
    ]


def with_files(message: OutboundMessage, conn: Connection) -> OutboundMessage:
    """The message with the files the agent attached, their data read just before the send
    (not for a whole batch of claims at once: files can be large)."""
    files = files_of(conn, [message.message_id]).get(message.message_id, ())
    return replace(message, attachments=files) if files else message
