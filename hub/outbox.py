"""Sending what agents wrote: stored first, then delivered by a worker, retried, reported.

Each outbox row is claimed with a lease before its connector is called, so a
hub that crashes mid-send retries it after the lease runs out: a message may
be sent once more than the peer acknowledged, never lost. Within one
conversation messages leave in the order they were written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import insert, select, update

from connectors.base import (
    Connector,
    ConnectorError,
    Delivery,
    PermanentError,
    TransientError,
)
from hub.clock import Clock
from hub.conversation_access import load_access
from hub.db.database import Database, Tx
from hub.db.schema import conversations, messages, outbox
from hub.events import store_broadcast
from hub.leases import next_attempt_at, outcome_values, renew_lease
from hub.message_status import status_payload
from hub.notices import NoticeKind, queue_notice
from hub.outbox_claims import Claim, claim_due, with_files, with_threads
from hub.retry import RetryPolicy
from hub.worker import work_when_due

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 100
IDLE_WAIT = 60.0
WORKER = "outbox"
"""The name :func:`enqueue` wakes the outbox by (``Database.wake_on_commit``)."""


MESSAGE_STATE = {"sent": "sent", "pending": "queued", "failed": "failed"}
"""A message's state by its outbox row's, after an attempt."""


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
    message_values: dict[str, Any] = {"state": message_state, "error": reason}
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
    access = load_access(tx.conn, claim.message.conversation_id)
    if message_state == "failed":
        tell_author_of_failure(claim.message.message_id, access.assignee_id, tx)
    tx.emit(
        "message.status",
        {
            **status_payload(
                claim.message.message_id,
                message_values["state"],
                message_values["error"],
                message_values.get("meta"),
            ),
            "attempts": claim.attempts,
            "next_attempt_at": values["next_attempt_at"].isoformat()
            if "next_attempt_at" in values
            else None,
        },
        to=access.audience,
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
    meta = tx.conn.execute(
        select(messages.c.meta).where(messages.c.id == message_id).with_for_update()
    ).scalar()
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
        self._in_flight: set[int] = set()
        """Outbox rows this process is sending: not claimed again, even past their lease."""
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
        busy = frozenset(self._in_flight)
        claims = await self.db.write(partial(claim_due, self.lease, limit, busy=busy))
        self._in_flight.update(claim.outbox_id for claim in claims)
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
        try:
            for index, claim in enumerate(claims):
                if not await self._send(claim):
                    await self.db.write(
                        partial(release_claims, [c.outbox_id for c in claims[index + 1 :]])
                    )
                    return
        finally:
            self._in_flight.difference_update(claim.outbox_id for claim in claims)

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
            message = await self.db.read(partial(with_files, claim.message))
            delivery = await self._leased_while(claim.outbox_id, connector.send(message))
        except ConnectorError as failure:
            error = failure
        except Exception as failure:
            log.exception("connector %s raised an unexpected error", claim.message.channel)
            error = TransientError(f"unexpected error: {type(failure).__name__}")
        retry_in = self.policy.next_delay(claim.attempts, error) if error else None
        await self.db.write(partial(record_outcome, claim, delivery, error, retry_in))
        return error is None

    async def _leased_while(self, outbox_id: int, sending: Awaitable[Delivery]) -> Delivery:
        """``sending``'s result, the claim's lease renewed meanwhile: a long send (files
        uploaded one by one) is never claimed again by another process while it runs."""
        renewing = asyncio.create_task(self._renew_lease(outbox_id))
        try:
            return await sending
        finally:
            renewing.cancel()

    async def _renew_lease(self, outbox_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            await self.db.write(partial(renew_lease, outbox, outbox_id, self.lease))

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
