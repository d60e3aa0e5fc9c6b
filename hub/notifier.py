"""The notifier: batches agents' notices and sends them on each agent's chosen channel.

It runs in one hub process at a time (``Hub.run_alone``), apart from the
outbox: a notification peer that is down or slow delays notifications only.
Each batch is a durable ``notice_batches`` row, claimed with a lease before
its connector is called and retried with the outbox's :class:`RetryPolicy`,
so a crash mid-send sends it again rather than never. Every send has a
deadline (``notifications.send_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update

from connectors.base import (
    Address,
    Connector,
    ConnectorError,
    OutboundMessage,
    PermanentError,
    Thread,
    TransientError,
)
from hub.clock import Clock
from hub.db.database import Database, Tx
from hub.db.locks import skipping_locked
from hub.db.schema import notice_batches
from hub.leases import due, next_attempt_at, outcome_values, take_lease
from hub.notice_batches import next_plan_at, plan_batches
from hub.retry import RetryPolicy
from hub.worker import work_when_due

log = logging.getLogger(__name__)

IDLE_WAIT = 15.0
"""Seconds between passes when nothing is known to fall due: how late a new notice may be
noticed (new notices do not wake the notifier, to keep ingest's transaction lean)."""
PLAN_EVERY = timedelta(seconds=10)
CLAIM_LIMIT = 50


@dataclass(frozen=True)
class BatchClaim:
    batch_id: int
    attempts: int
    channel: str
    address: str
    text: str


def claim_batches(lease: timedelta, limit: int, tx: Tx) -> list[BatchClaim]:
    query = (
        select(
            notice_batches.c.id,
            notice_batches.c.attempts,
            notice_batches.c.channel,
            notice_batches.c.address,
            notice_batches.c.text,
        )
        .where(due(notice_batches, tx.now))
        .order_by(notice_batches.c.id)
        .limit(limit)
    )
    rows = tx.conn.execute(skipping_locked(query, notice_batches, tx.conn)).all()
    if rows:
        take_lease(tx, notice_batches, [r.id for r in rows], lease)
    return [BatchClaim(r.id, r.attempts + 1, r.channel, r.address, r.text) for r in rows]


def record_batch_outcome(
    claim: BatchClaim, error: ConnectorError | None, retry_in: float | None, tx: Tx
) -> None:
    values = outcome_values(None if error is None else error.reason, retry_in, tx.now)
    if error is None:
        values["sent_at"] = tx.now
    tx.conn.execute(
        update(notice_batches).where(notice_batches.c.id == claim.batch_id).values(values)
    )


def next_due_at(plan_every: timedelta, now: datetime, conn: Any) -> datetime | None:
    """The earliest of: a batch to (re)try, the next pass over notices that are due.

    Notices are planned at most every ``plan_every``: while customers keep writing,
    a notice is always due, and the notifier must not spin on them.
    """
    batch_due = next_attempt_at(notice_batches, conn)
    plan_due = next_plan_at(conn)
    if plan_due is not None:
        plan_due = max(plan_due, now + plan_every)
    return min((t for t in (batch_due, plan_due) if t is not None), default=None)


def notification(claim: BatchClaim, kind: str, now: datetime) -> OutboundMessage:
    """The batch as a message that belongs to no conversation; its first line is the subject."""
    return OutboundMessage(
        message_id=claim.batch_id,
        conversation_id=None,
        channel=claim.channel,
        to=Address(kind, claim.address),
        text=claim.text,
        written_at=now,
        thread=Thread(subject=claim.text.partition("\n")[0]),
    )


class NoticeWorker:
    def __init__(
        self,
        db: Database,
        connectors: Mapping[str, Connector],
        clock: Clock,
        policy: RetryPolicy,
        *,
        lease: timedelta,
        window: timedelta,
        send_timeout: float,
        inbox_url: str,
        live_agents: Callable[[], frozenset[int]],
    ) -> None:
        self.db = db
        self.connectors = connectors
        self.clock = clock
        self.policy = policy
        self.lease = lease
        self.window = window
        self.send_timeout = send_timeout
        self.inbox_url = inbox_url
        self.live_agents = live_agents
        self._wake = asyncio.Event()

    async def run_due(self) -> int:
        """Batch what may go now and send every batch due; how many sends were attempted."""
        await self.db.write(partial(plan_batches, self.live_agents(), self.window, self.inbox_url))
        claims = await self.db.write(partial(claim_batches, self.lease, CLAIM_LIMIT))
        await asyncio.gather(*(self._send(claim) for claim in claims))
        return len(claims)

    async def _send(self, claim: BatchClaim) -> None:
        error: ConnectorError | None = None
        try:
            connector = self.connectors.get(claim.channel)
            if connector is None:
                raise PermanentError(f"channel {claim.channel!r} is not configured or disabled")
            message = notification(claim, connector.identity_kind, self.clock.now())
            await asyncio.wait_for(connector.send(message), self.send_timeout)
        except ConnectorError as failure:
            error = failure
        except TimeoutError:
            error = TransientError(f"no answer within {self.send_timeout:g} s")
        except Exception as failure:
            log.exception("channel %s: unexpected error sending a notification", claim.channel)
            error = TransientError(f"unexpected error: {type(failure).__name__}")
        retry_in = self.policy.next_delay(claim.attempts, error) if error else None
        if error is not None:
            log.warning(
                "notification %d on channel %s failed (%s)%s",
                claim.batch_id,
                claim.channel,
                error.reason,
                "" if retry_in is not None else "; giving up",
            )
        await self.db.write(partial(record_batch_outcome, claim, error, retry_in))

    async def _next_due(self) -> datetime | None:
        return await self.db.read(partial(next_due_at, PLAN_EVERY, self.clock.now()))

    async def run(self) -> None:
        """Work until cancelled (in one process: see ``Hub.start``)."""
        await work_when_due(
            "notifier",
            self.run_due,
            self._next_due,
            self.clock,
            self._wake,
            IDLE_WAIT,
        )
