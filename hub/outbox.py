"""Sending what agents wrote: stored first, then delivered by a worker, retried, reported.

Each outbox row is claimed with a lease before its connector is called, so a
hub that crashes mid-send retries it after the lease runs out: a message may
be sent once more than the peer acknowledged, never lost. Within one
conversation messages leave in the order they were written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, and_, exists, insert, select, update
from sqlalchemy.orm import aliased

from connectors.base import (
    Address,
    Connector,
    ConnectorError,
    Delivery,
    OutboundMessage,
    PermanentError,
    TransientError,
)
from hub.channel_support import threads_of
from hub.clock import Clock
from hub.db.database import Database, Tx
from hub.db.locks import skipping_locked
from hub.db.schema import conversations, customers, identities, messages, outbox
from hub.events import store_broadcast
from hub.leases import due, next_attempt_at, outcome_values, take_lease
from hub.notices import NoticeKind, queue_notice
from hub.opt_outs import opted_out_reason
from hub.retry import RetryPolicy
from hub.uploads import files_of
from hub.worker import work_when_due

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 100
IDLE_WAIT = 60.0
WORKER = "outbox"
"""The name :func:`enqueue` wakes the outbox by (``Database.wake_on_commit``)."""


MESSAGE_STATE = {"sent": "sent", "pending": "queued", "failed": "failed"}
"""A message's state by its outbox row's, after an attempt."""


@dataclass(frozen=True)
class Claim:
    outbox_id: int
    attempts: int
    message: OutboundMessage
    refused: str | None = None
    """Why it must not leave at all (the customer opted out of the channel): failed unsent."""


def claim_due(lease: timedelta, limit: int, tx: Tx) -> list[Claim]:
    """Lease what is due; each claim's message carries what earlier attempts delivered.

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
            identities.c.kind,
            identities.c.address,
            identities.c.opted_out_channel,
            identities.c.opted_out_at,
        )
        .join(messages, messages.c.id == outbox.c.message_id)
        .join(identities, identities.c.id == messages.c.identity_id)
        .where(due(outbox, tx.now), ~blocked_by_earlier)
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
            ),
            opted_out_reason(row.channel, row.opted_out_at)
            if row.opted_out_channel == row.channel
            else None,
        )
        for row in rows
    ]


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
    and the files the agent attached."""
    threads = threads_of({(c.message.conversation_id, c.message.channel) for c in claims}, conn)
    files = files_of(conn, [c.message.message_id for c in claims])
    return [
        replace(
            claim,
            message=replace(
                claim.message,
                thread=threads[claim.message.conversation_id, claim.message.channel],
                attachments=files.get(claim.message.message_id, ()),
            ),
        )
        for claim in claims
    ]


def record_outcome(
    claim: Claim,
    delivery: Delivery | None,
    error: ConnectorError | None,
    retry_in: float | None,
    tx: Tx,
) -> None:
    """Store what happened to one send and tell the agents who see the conversation."""
    reason = None if error is None else error.reason
    values = outcome_values(reason, retry_in, tx.now)
    message_state = MESSAGE_STATE[values["state"]]
    tx.conn.execute(update(outbox).where(outbox.c.id == claim.outbox_id).values(values))
    message_values: dict[str, object] = {"state": message_state, "error": reason}
    if error is None:
        message_values["sent_at"] = tx.now
    delivered = delivery if error is None else error.partial
    if error is None and delivery is not None and delivery.relay is not None:
        store_broadcast(claim.message.channel, dict(delivery.relay), tx)
    if delivered is not None and delivered.meta():
        message_values["meta"] = meta = merged_meta(claim.message.message_id, delivered, tx)
        if error is None:
            message_values.update(failed_receipt(meta))
    tx.conn.execute(
        update(messages).where(messages.c.id == claim.message.message_id).values(message_values)
    )
    audience = tx.conn.execute(
        select(conversations.c.assignee_id, customers.c.owner_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(conversations.c.id == claim.message.conversation_id)
    ).one()
    if message_state == "failed":
        tell_author_of_failure(claim.message.message_id, audience.assignee_id, tx)
    tx.emit(
        "message.status",
        {
            "message_id": claim.message.message_id,
            "state": message_values["state"],
            "error": message_values["error"],
            "attempts": claim.attempts,
            "next_attempt_at": values["next_attempt_at"].isoformat()
            if "next_attempt_at" in values
            else None,
        },
        to=[a for a in audience if a],
        conversation_id=claim.message.conversation_id,
    )


def failed_receipt(meta: Mapping[str, object]) -> dict[str, object]:
    """A failure receipt that outran the record of its send (a status callback answered
    before the API call returned) keeps the message failed: its author was told then."""
    receipt = meta.get("receipt")
    if isinstance(receipt, dict) and receipt.get("state") == "failed":
        return {"state": "failed", "error": receipt.get("reason")}
    return {}


def tell_author_of_failure(message_id: int, assignee_id: int | None, tx: Tx) -> None:
    """Queue a notice for who wrote the reply (an auto-reply: the conversation's handler)."""
    row = tx.conn.execute(
        select(messages.c.author_id, messages.c.conversation_id, conversations.c.customer_id)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(messages.c.id == message_id)
    ).one()
    agent_id = row.author_id or assignee_id
    if agent_id is not None:
        queue_notice(
            tx,
            agent_id,
            NoticeKind.DELIVERY_FAILED,
            conversation_id=row.conversation_id,
            customer_id=row.customer_id,
        )


def merged_meta(message_id: int, delivered: Delivery, tx: Tx) -> dict[str, object]:
    """The message's meta with what the platform said added: an auto-reply stays marked."""
    meta = tx.conn.execute(select(messages.c.meta).where(messages.c.id == message_id)).scalar()
    return {**(meta or {}), **delivered.meta()}


def next_due_at(conn: object) -> datetime | None:
    return next_attempt_at(outbox, conn)


class Outbox:
    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        clock: Clock,
        policy: RetryPolicy,
        lease: timedelta,
    ) -> None:
        self.db = db
        self.connectors = connectors
        self.clock = clock
        self.policy = policy
        self.lease = lease
        self._wake = asyncio.Event()
        db.wake_on_commit(WORKER, self.wake)

    def wake(self) -> None:
        """Something new is in the outbox: look now rather than at the next timer."""
        self._wake.set()

    async def run_due(self) -> int:
        """Send everything due now, and what falls due meanwhile; return how many were attempted.

        Each conversation's claims go out as a task of their own, and the outbox
        claims again whenever one finishes or something new is queued, so a peer
        that never answers holds up its own conversation (until the connector's
        timeout), not every other send. At most ``MAX_IN_FLIGHT`` conversations
        are being sent to at once.
        """
        attempted = 0
        sending: set[asyncio.Task[None]] = set()
        try:
            while True:
                room = MAX_IN_FLIGHT - len(sending)
                claims = await self._claim(room) if room else []
                attempted += len(claims)
                sending.update(
                    asyncio.create_task(self._send_in_order(group))
                    for group in by_conversation(claims)
                )
                if not sending:
                    return attempted
                sending = await self._until_one_finishes_or_a_wake_up(sending)
        finally:
            if sending:
                await asyncio.gather(*sending, return_exceptions=True)

    async def _claim(self, limit: int) -> list[Claim]:
        claims = await self.db.write(partial(claim_due, self.lease, limit))
        return await self.db.read(partial(with_threads, claims)) if claims else claims

    async def _until_one_finishes_or_a_wake_up(
        self, sending: set[asyncio.Task[None]]
    ) -> set[asyncio.Task[None]]:
        """Wait for a send to finish or for :meth:`wake`; return the sends still running."""
        woken = asyncio.create_task(self._wake.wait())
        done, _ = await asyncio.wait({*sending, woken}, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        self._wake.clear()
        for task in done & sending:
            task.result()
        return sending - done

    async def _send_in_order(self, claims: list[Claim]) -> None:
        for index, claim in enumerate(claims):
            if not await self._send(claim):
                await self.db.write(
                    partial(release_claims, [c.outbox_id for c in claims[index + 1 :]])
                )
                return

    async def _send(self, claim: Claim) -> bool:
        """Deliver one claim and record the outcome; ``True`` when it left."""
        connector = self.connectors.get(claim.message.channel)
        delivery: Delivery | None = None
        error: ConnectorError | None = None
        try:
            if connector is None:
                raise PermanentError(f"channel {claim.message.channel!r} is not configured")
            if claim.refused is not None:
                raise PermanentError(claim.refused)
            delivery = await connector.send(claim.message)
        except ConnectorError as failure:
            error = failure
        except Exception as failure:
            log.exception("connector %s raised an unexpected error", claim.message.channel)
            error = TransientError(f"unexpected error: {type(failure).__name__}")
        retry_in = self.policy.next_delay(claim.attempts, error) if error else None
        await self.db.write(partial(record_outcome, claim, delivery, error, retry_in))
        return error is None

    async def run(self) -> None:
        """Work until cancelled: a pass whenever something falls due or on a wake-up."""
        await work_when_due(
            "outbox",
            self.run_due,
            partial(self.db.read, next_due_at),
            self.clock,
            self._wake,
            IDLE_WAIT,
        )


def enqueue(tx: Tx, message_id: int, conversation_id: int, channel: str, send_at: datetime) -> None:
    """Put a stored outbound message in the outbox, to leave at ``send_at``.

    The outbox is woken once this commits (see :meth:`Outbox.wake`), so a
    message due now leaves at once, whoever queued it.
    """
    tx.conn.execute(
        insert(outbox).values(
            message_id=message_id,
            conversation_id=conversation_id,
            channel=channel,
            state="pending",
            attempts=0,
            next_attempt_at=send_at,
            created_at=tx.now,
        )
    )
    tx.wake_after_commit(WORKER)


def by_conversation(claims: list[Claim]) -> list[list[Claim]]:
    """Claims grouped by conversation, each group in outbox order."""
    groups: dict[int, list[Claim]] = {}
    for claim in claims:
        groups.setdefault(claim.message.conversation_id, []).append(claim)
    return list(groups.values())


def release_claims(outbox_ids: list[int], tx: Tx) -> None:
    """Give back claims not tried because an earlier message of their conversation failed."""
    if outbox_ids:
        tx.conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(outbox_ids))
            .values(state="pending", lease_until=None, attempts=outbox.c.attempts - 1)
        )
