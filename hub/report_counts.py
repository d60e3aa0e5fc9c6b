"""Counting what the reports need as messages land, so a report over a year reads weeks.

Messages are counted in the order they were stored (by id), a batch per transaction,
from where the last count stopped (``hub_state``): each begins or answers a wait
(``routing.reports.count``), whose business-time response is worked out once, when it is
answered. Answered waits are added to their UTC week (``wait_weeks``), who answered each
conversation to ``conversation_answers``, held messages and auto-replies to their UTC hour
(``message_hours``). A worker counts in the background; a report counts what is left
before it reads, so it is never behind.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update

from hub.clock import Clock
from hub.db.database import Database, Tx
from hub.db.schema import (
    conversation_answers,
    conversations,
    customers,
    hub_state,
    messages,
    waits,
)
from hub.report_rules import rules_lookup
from hub.report_store import (
    Answers,
    add_hours,
    add_weeks,
    instant,
    seconds,
    utc_week,
    write_answers,
)
from hub.worker import work_when_due
from routing.report_tallies import rounded
from routing.reports import Message, Opened, RulesOf, count, timed

COUNTED_UP_TO = "reports.counted_up_to"
"""``hub_state`` key: how far counting is (:class:`Progress`, as JSON)."""
BATCH = 500
"""Messages counted per transaction: small enough that the writer it shares with ingest is
not held up for long."""
IDLE_WAIT = 10.0
GAP_WAIT = 60
"""Seconds an id skipped by the count is looked for, in case its transaction commits late."""
MAX_GAPS = 1000


@dataclass
class OpenWait:
    """A wait not answered when the batch began (``row_id``) or begun in it (None)."""

    opened: Opened
    owner_id: int | None
    row_id: int | None = None


@dataclass
class Batch:
    """What one batch of messages changes, written at its end."""

    rules_of: RulesOf
    open: dict[int, OpenWait] = field(default_factory=dict)
    answers: dict[int, Answers] = field(default_factory=dict)
    new_waits: list[dict[str, Any]] = field(default_factory=list)
    answered: list[dict[str, Any]] = field(default_factory=list)
    weeks: dict[tuple[int, int, str, str], Counter[str]] = field(default_factory=dict)
    hours: dict[int, Counter[str]] = field(default_factory=dict)


def backlog(conn: Connection) -> tuple[int, int]:
    """(last message counted, last message stored)."""
    newest = conn.execute(select(func.max(messages.c.id))).scalar() or 0
    return _progress(conn).up_to, newest


@dataclass
class Progress:
    """How far counting is: every message up to ``up_to`` is counted, except ``gaps``: ids
    not seen yet (a transaction that took its id first may commit after one that took a
    later id, on PostgreSQL), by when they were first missed (epoch seconds)."""

    up_to: int
    gaps: dict[int, int] = field(default_factory=dict)

    def text(self) -> str:
        return json.dumps({"up_to": self.up_to, "gaps": sorted(self.gaps.items())})


def _progress(conn: Connection, lock: bool = False) -> Progress:
    query = select(hub_state.c.value).where(hub_state.c.key == COUNTED_UP_TO)
    value = conn.execute(query.with_for_update() if lock else query).scalar()
    if value is None or value.isdigit():
        return Progress(int(value or 0))
    stored = json.loads(value)
    return Progress(stored["up_to"], dict(stored["gaps"]))


def _next_progress(before: Progress, found: list[int], now_s: int) -> Progress:
    """After counting ``found`` (ids, ascending): the new mark, the gaps still looked for
    (for :data:`GAP_WAIT` seconds; more than :data:`MAX_GAPS` at once are deleted rows, not
    late ones) and the ids skipped now."""
    seen = set(found)
    up_to = max(before.up_to, found[-1]) if found else before.up_to
    gaps = {
        gap: since
        for gap, since in before.gaps.items()
        if gap not in seen and now_s - since <= GAP_WAIT
    }
    skipped = up_to - before.up_to - len([i for i in found if i > before.up_to])
    if 0 < skipped <= MAX_GAPS:
        gaps.update((gap, now_s) for gap in range(before.up_to + 1, up_to) if gap not in seen)
    return Progress(up_to, gaps)


def count_messages(tx: Tx, limit: int = BATCH) -> int:
    """Count up to ``limit`` messages stored since the last count; how many were counted.

    On PostgreSQL the ``hub_state`` row is locked first, so two processes never count the
    same messages."""
    before = _progress(tx.conn, lock=True)
    unseen = messages.c.id > before.up_to
    if before.gaps:
        unseen = or_(unseen, messages.c.id.in_(before.gaps))
    rows = tx.conn.execute(
        select(
            messages.c.id,
            messages.c.conversation_id,
            conversations.c.customer_id,
            customers.c.owner_id,
            messages.c.direction,
            messages.c.channel,
            messages.c.author_id,
            messages.c.created_at,
            messages.c.release_at,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(unseen)
        .order_by(messages.c.id)
        .limit(limit)
    ).all()
    after = _next_progress(before, [row.id for row in rows], seconds(tx.now))
    if after != before:
        _save_progress(tx.conn, after)
    if not rows:
        return 0
    batch = _load_batch(tx.conn, {row.conversation_id for row in rows})
    for row in rows:
        _count_row(batch, row)
    _write_batch(tx.conn, batch)
    return len(rows)


def _load_batch(conn: Connection, conversation_ids: set[int]) -> Batch:
    batch = Batch(rules_lookup(conn))
    for row in conn.execute(
        select(waits, conversations.c.customer_id)
        .join(conversations, conversations.c.id == waits.c.conversation_id)
        .where(waits.c.conversation_id.in_(conversation_ids), waits.c.replied_s.is_(None))
        .order_by(waits.c.start_s.desc())
    ):
        opened = Opened(
            row.conversation_id, row.customer_id, row.channel, row.kind, instant(row.start_s)
        )
        batch.open[row.conversation_id] = OpenWait(opened, row.owner_id, row.id)
    for row in conn.execute(
        select(conversation_answers).where(
            conversation_answers.c.conversation_id.in_(conversation_ids)
        )
    ):
        batch.answers[row.conversation_id] = Answers(
            row.start_s, row.owner_id, row.replied, row.by_owner, row.by_others, stored=True
        )
    return batch


def _count_row(batch: Batch, row: Any) -> None:
    at_s = seconds(row.created_at)
    _count_hour(batch, row, at_s)
    if row.direction not in ("in", "out"):
        return
    answers = batch.answers.setdefault(row.conversation_id, Answers(at_s, row.owner_id))
    waiting = batch.open.get(row.conversation_id)
    message = Message(
        row.conversation_id,
        row.customer_id,
        row.direction,
        row.channel or "",
        row.created_at,
        row.author_id,
    )
    counted = count(waiting.opened if waiting else None, answers.replied, message)
    answers.replied = counted.replied
    if counted.began is not None:
        batch.open[row.conversation_id] = OpenWait(counted.began, row.owner_id)
    if counted.answered is not None and waiting is not None:
        del batch.open[row.conversation_id]
        _answer(batch, waiting, row, answers)


def _count_hour(batch: Batch, row: Any, at_s: int) -> None:
    if row.direction == "in" and row.release_at is not None:
        kind = "held"
    elif row.direction == "out" and row.author_id is None:
        kind = "autoreplies"
    else:
        return
    batch.hours.setdefault(at_s - at_s % 3600, Counter())[kind] += 1


def _answer(batch: Batch, waiting: OpenWait, reply: Any, answers: Answers) -> None:
    """Time the answered wait, file it under its UTC week, note who answered."""
    wait = waiting.opened
    timing = timed(wait, reply.created_at, batch.rules_of)
    response = int(timing.waited.total_seconds())
    values = {
        "conversation_id": wait.conversation_id,
        "channel": wait.channel,
        "kind": wait.kind,
        "start_s": seconds(wait.start),
        "owner_id": reply.owner_id,
        "replied_s": seconds(reply.created_at),
        "replied_by": reply.author_id,
        "response_s": response,
        "target_s": None if timing.target is None else int(timing.target.total_seconds()),
    }
    if waiting.row_id is None:
        batch.new_waits.append(values)
    else:
        batch.answered.append({"wait_id": waiting.row_id, **values})
    key = (utc_week(values["start_s"]), reply.owner_id or 0, wait.channel, wait.kind)
    tally = batch.weeks.setdefault(key, Counter())
    tally["replied"] += 1
    tally[timing.outcome(answered=True) or "no target"] += 1
    tally[f"h{rounded(response)}"] += 1
    by_owner = reply.owner_id is not None and reply.author_id == reply.owner_id
    answers.owner_id = reply.owner_id
    answers.by_owner |= by_owner
    answers.by_others |= not by_owner


def _write_batch(conn: Connection, batch: Batch) -> None:
    still_open = [
        {
            "conversation_id": w.opened.conversation_id,
            "channel": w.opened.channel,
            "kind": w.opened.kind,
            "start_s": seconds(w.opened.start),
            "owner_id": w.owner_id,
        }
        for w in batch.open.values()
        if w.row_id is None
    ]
    for rows in (batch.new_waits, still_open):
        if rows:
            conn.execute(insert(waits), rows)
    if batch.answered:
        conn.execute(
            update(waits).where(waits.c.id == bindparam("wait_id")),
            [{k: v for k, v in row.items() if k != "conversation_id"} for row in batch.answered],
        )
    write_answers(conn, batch.answers)
    add_weeks(conn, batch.weeks)
    add_hours(conn, batch.hours)


def _save_progress(conn: Connection, progress: Progress) -> None:
    """Note how far counting is (the row is made by migration 0012, and again here if it
    was deleted since)."""
    stored = conn.execute(
        update(hub_state).where(hub_state.c.key == COUNTED_UP_TO).values(value=progress.text())
    )
    if not stored.rowcount:
        conn.execute(insert(hub_state).values(key=COUNTED_UP_TO, value=progress.text()))


@dataclass(frozen=True)
class Behind:
    """How far counting is behind the stored messages (shown while a large backlog is
    counted, e.g. after the upgrade that began counting)."""

    counted_up_to: int
    newest: int

    @property
    def percent(self) -> int:
        return int(100 * self.counted_up_to / self.newest) if self.newest else 100


class ReportCounts:
    """The worker that counts in the background, and the catch-up a report runs first."""

    def __init__(self, db: Database, clock: Clock, inline_limit: int = 10 * BATCH) -> None:
        self.db = db
        self.clock = clock
        self.inline_limit = inline_limit
        """A report counts at most this many messages itself; beyond, it says how far the
        worker is (:class:`Behind`)."""
        self._wake = asyncio.Event()

    async def count_all(self) -> int:
        """Count until nothing is left; how many messages were counted."""
        total = 0
        while counted := await self.db.write(count_messages):
            total += counted
        return total

    async def catch_up(self) -> Behind | None:
        """Count what is left before a report reads; None when done, else how far counting is
        (too far behind to do it within the request: the worker is on it)."""
        counted_up_to, newest = await self.db.read(backlog)
        if newest - counted_up_to > self.inline_limit:
            self._wake.set()
            return Behind(counted_up_to, newest)
        await self.count_all()
        return None

    async def run(self) -> None:
        async def no_due_time() -> None:
            return None

        await work_when_due(
            "report counting", self.count_all, no_due_time, self.clock, self._wake, IDLE_WAIT
        )
