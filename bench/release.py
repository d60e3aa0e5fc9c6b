"""Release benchmark: held messages all due at one instant, the hub against bare SQL, in one run.

    python -m bench.release [--messages 100000] [--conversations 5000] [--database postgresql://...]

Setup (not timed): a hub in this process on a fresh SQLite file (or the given
PostgreSQL database, migrated and truncated) with London office hours
(Mon-Fri 09:00-17:00), two agents, and a clock on the weekend. ``--messages``
SMS messages from ``--conversations`` customers arrive through ``hub.ingest``,
spread over Saturday and Sunday, so every one is held until Monday 09:00.

(a) baseline: a table of the same number of rows in state ``held`` and one
    ``UPDATE ... SET state = 'received' WHERE id IN (the next batch of due held
    ids) RETURNING ...`` per transaction, in batches of the hub's size, read back
    ordered by id; sqlite3 (WAL, synchronous=NORMAL), or asyncpg for
    ``--database postgresql://...``;
(b) the hub: the clock moves to Monday 09:00 and ``hub.holds.release_due()``
    runs until nothing is due. Each release turns the message into new work
    for its conversation's handler, stores a ``message.created`` event and
    publishes it; both agents' event-bus subscriptions count what they get.

Checked after the hub's run: every message is ``received`` exactly once, each
one's event reached its agent exactly once, and within each conversation the
events came in arrival (message id) order.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import asyncpg
from sqlalchemy import func, select, text

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.cli import settle_garbage_collector
from hub.db.database import open_database
from hub.db.migrate import migrate
from hub.db.schema import agents, events, messages, metadata
from hub.events import EventBus, Subscription
from hub.holds import RELEASE_BATCH
from hub.team import create_agent

TOKEN_ENV = {"BENCH_TOKEN": "bench-token-0123456789"}
WEEKDAYS_9_TO_5 = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
SATURDAY = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)
MONDAY_9_LONDON = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # GMT in March: London = UTC
WEEKEND = MONDAY_9_LONDON - timedelta(hours=10) - SATURDAY
INGEST_CHUNK = 500
TARGET_SECONDS = 30.0
BASELINE_TABLE = "bench_held"


class BenchClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


@dataclass
class Setup:
    seconds: float
    message_ids: list[int]
    held: int


@dataclass
class Release:
    released: int
    release_seconds: float
    delivered_seconds: float


@dataclass
class Checks:
    states: dict[str, int]
    delivered: int
    duplicates: int
    missing: int
    overflowed: int
    conversations: int
    out_of_order: int
    stored_events: int

    def ok(self, messages_: int) -> bool:
        return (
            self.states == {"received": messages_}
            and self.delivered == messages_
            and not (self.duplicates or self.missing or self.overflowed or self.out_of_order)
            and self.stored_events == messages_
        )


@dataclass
class Rate:
    rows: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class Counting:
    """Every ``message.created`` event the agents' subscriptions receive, in arrival order."""

    expected: int
    seen: list[tuple[int, int, int]] = field(default_factory=list)  # event, conversation, message
    done: asyncio.Event = field(default_factory=asyncio.Event)
    finished_at: float = 0.0

    async def consume(self, subscription: Subscription) -> None:
        while batch := await subscription.next_batch():
            for event in batch:
                if event.kind == "message.created":
                    message = event.payload["message"]
                    self.seen.append((event.id, message["conversation_id"], message["id"]))
            if len(self.seen) >= self.expected and not self.done.is_set():
                self.finished_at = time.perf_counter()
                self.done.set()


def hub_settings(database_url: str) -> Settings:
    data = {
        "database": {"url": database_url},
        "hours": {"zone": "Europe/London", "weekly": WEEKDAYS_9_TO_5},
        "channels": [
            {"kind": "api", "name": "sms", "token_env": "BENCH_TOKEN", "identity_kind": "phone"}
        ],
    }
    return Settings.model_validate(data, context={"environ": TOKEN_ENV})


async def empty_postgres(url: str) -> None:
    """Migrate the given database and empty every hub table."""
    db = open_database(url, BenchClock(SATURDAY), EventBus())
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    try:
        await migrate(db)
        await db.run_maintenance(
            lambda conn: conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        )
    finally:
        await db.close()


def sms(number: int, conversations: int) -> InboundMessage:
    customer = number % conversations
    return InboundMessage(
        channel="sms",
        external_id=f"rel-{number}",
        sender=Address("phone", f"+44770{customer:07d}"),
        sender_name=f"Customer {customer}",
        text=f"weekend message {number} from customer {customer}",
    )


async def ingest_weekend(hub: Hub, clock: BenchClock, total: int, conversations: int) -> Setup:
    """Ingest ``total`` messages through the hub, spread over the weekend (not timed)."""
    for email in ("maria@example.com", "jonas@example.com"):
        name = email.split("@")[0].title()
        await hub.db.write(partial(create_agent, None, email, name, "bench-no-login", "agent"))
    chunk = min(INGEST_CHUNK, conversations)  # one message per customer per chunk: no races
    started = time.perf_counter()
    ids: list[int] = []
    for first in range(0, total, chunk):
        clock.instant = SATURDAY + WEEKEND * (first / total)
        numbers = range(first, min(first + chunk, total))
        results = await asyncio.gather(*(hub.ingest(sms(n, conversations)) for n in numbers))
        ids += [result.message_id for result in results]
        if first and first % 20_000 == 0:
            print(f"  ingested {first:,} ...", file=sys.stderr)
    seconds = time.perf_counter() - started
    held = await hub.db.read(
        lambda conn: conn.execute(
            select(func.count()).where(
                messages.c.state == "held", messages.c.release_at == MONDAY_9_LONDON
            )
        ).scalar_one()
    )
    return Setup(seconds, ids, held)


async def release_all(hub: Hub, clock: BenchClock, counting: Counting) -> Release:
    clock.instant = MONDAY_9_LONDON
    started = time.perf_counter()
    released = 0
    while batch := await hub.holds.release_due():  # loops itself until nothing is due
        released += batch
    release_seconds = time.perf_counter() - started
    try:
        await asyncio.wait_for(counting.done.wait(), 30)
        delivered_seconds = counting.finished_at - started
    except TimeoutError:
        delivered_seconds = float("nan")
    return Release(released, release_seconds, max(release_seconds, delivered_seconds))


async def check(hub: Hub, setup: Setup, counting: Counting, subs: list[Subscription]) -> Checks:
    states = await hub.db.read(
        lambda conn: dict(
            conn.execute(
                select(messages.c.state, func.count())
                .where(messages.c.direction == "in")  # only the benchmark's, in a fresh database
                .group_by(messages.c.state)
            ).all()
        )
    )
    stored_events = await hub.db.read(
        lambda conn: conn.execute(
            select(func.count()).where(events.c.kind == "message.created")
        ).scalar_one()
    )
    per_message = Counter(message for _, _, message in counting.seen)
    by_conversation: dict[int, list[tuple[int, int]]] = {}
    for event_id, conversation, message in counting.seen:
        by_conversation.setdefault(conversation, []).append((event_id, message))
    out_of_order = 0
    for seen in by_conversation.values():
        seen.sort()  # by event id: the order the agents were told in
        in_order = all(a[1] < b[1] for a, b in itertools.pairwise(seen))
        out_of_order += not in_order
    return Checks(
        states=states,
        delivered=len(counting.seen),
        duplicates=sum(count - 1 for count in per_message.values() if count > 1),
        missing=len(set(setup.message_ids) - per_message.keys()),
        overflowed=sum(sub.overflowed for sub in subs),
        conversations=len(by_conversation),
        out_of_order=out_of_order,
        stored_events=stored_events,
    )


async def hub_run(args: argparse.Namespace, workdir: Path) -> tuple[Setup, Release, Checks, Rate]:
    database = args.database or f"sqlite:///{workdir / 'hub.db'}"
    if args.database:
        await empty_postgres(args.database)
    clock = BenchClock(SATURDAY)
    hub = Hub(hub_settings(database), clock)
    await hub.start(run_workers=False)
    try:
        settle_garbage_collector()  # as `hub run` does once started
        print(f"setup: ingesting {args.messages:,} weekend messages ...", file=sys.stderr)
        setup = await ingest_weekend(hub, clock, args.messages, args.conversations)
        print(f"  {setup.seconds:.1f} s; {setup.held:,} held", file=sys.stderr)
        print("baseline ...", file=sys.stderr)
        base = await baseline_rate(args, workdir)
        print("hub release ...", file=sys.stderr)
        counting = Counting(args.messages)
        agent_ids = await hub.db.read(
            lambda conn: list(conn.execute(select(agents.c.id).order_by(agents.c.id)).scalars())
        )
        subs = [hub.bus.subscribe(agent_id) for agent_id in agent_ids]
        consumers = [asyncio.create_task(counting.consume(sub)) for sub in subs]
        release = await release_all(hub, clock, counting)
        for sub in subs:
            sub.close()
        for consumer in consumers:
            consumer.cancel()
        checks = await check(hub, setup, counting, subs)
    finally:
        await hub.stop()
    return setup, release, checks, base


# --- baseline -----------------------------------------------------------------

BASELINE_UPDATE = (
    f"UPDATE {BASELINE_TABLE} SET state = 'received' WHERE id IN ("
    f" SELECT id FROM {BASELINE_TABLE} WHERE state = 'held' AND release_at <= {{now}}"
    f" ORDER BY id LIMIT {{limit}}) RETURNING id, conversation_id, body"
)


def baseline_rows(total: int, conversations: int, release_at: str) -> list[tuple]:
    return [
        (n + 1, n % conversations + 1, f"weekend message {n}", "held", release_at)
        for n in range(total)
    ]


def baseline_sqlite(path: Path, total: int, conversations: int) -> Rate:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        f"CREATE TABLE {BASELINE_TABLE} (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL,"
        " body TEXT NOT NULL, state TEXT NOT NULL, release_at TEXT)"
    )
    connection.execute(f"CREATE INDEX ix_held ON {BASELINE_TABLE} (state, release_at)")
    release_at = MONDAY_9_LONDON.isoformat()
    connection.execute("BEGIN")
    connection.executemany(
        f"INSERT INTO {BASELINE_TABLE} VALUES (?, ?, ?, ?, ?)",
        baseline_rows(total, conversations, release_at),
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    statement = BASELINE_UPDATE.format(now="?", limit="?")
    released = 0
    started = time.perf_counter()
    while True:
        connection.execute("BEGIN IMMEDIATE")
        rows = connection.execute(statement, (release_at, RELEASE_BATCH)).fetchall()
        connection.execute("COMMIT")
        if not rows:
            break
        rows.sort()
        released += len(rows)
    seconds = time.perf_counter() - started
    connection.close()
    return Rate(released, seconds)


async def baseline_postgres(url: str, total: int, conversations: int) -> Rate:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        await conn.execute(
            f"CREATE TABLE {BASELINE_TABLE} (id BIGINT PRIMARY KEY, conversation_id BIGINT NOT"
            " NULL, body TEXT NOT NULL, state TEXT NOT NULL, release_at TIMESTAMPTZ)"
        )
        await conn.execute(f"CREATE INDEX ix_bench_held ON {BASELINE_TABLE} (state, release_at)")
        await conn.copy_records_to_table(
            BASELINE_TABLE, records=baseline_rows(total, conversations, MONDAY_9_LONDON)
        )
        await conn.execute(f"VACUUM ANALYZE {BASELINE_TABLE}")
        statement = BASELINE_UPDATE.format(now="$1", limit="$2")
        released = 0
        started = time.perf_counter()
        while True:
            async with conn.transaction():
                rows = await conn.fetch(statement, MONDAY_9_LONDON, RELEASE_BATCH)
            if not rows:
                break
            rows = sorted(rows, key=lambda row: row["id"])
            released += len(rows)
        seconds = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {BASELINE_TABLE}")
    finally:
        await conn.close()
    return Rate(released, seconds)


async def baseline_rate(args: argparse.Namespace, workdir: Path) -> Rate:
    if args.database:
        url = args.database.replace("postgresql+asyncpg://", "postgresql://")
        return await baseline_postgres(url, args.messages, args.conversations)
    return await asyncio.to_thread(
        baseline_sqlite, workdir / "baseline.db", args.messages, args.conversations
    )


# --- report -------------------------------------------------------------------


def report(
    args: argparse.Namespace, setup: Setup, release: Release, checks: Checks, base: Rate
) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    hub_rate = release.released / release.delivered_seconds
    met = release.delivered_seconds <= TARGET_SECONDS and release.released == args.messages
    order = (
        f"in order in all {checks.conversations:,}"
        if not checks.out_of_order
        else f"**{checks.out_of_order:,} of {checks.conversations:,} out of order**"
    )
    command = (
        f"python -m bench.release --messages {args.messages} --conversations {args.conversations}"
        + (f" --database {args.database}" if args.database else "")
    )
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    states = ", ".join(f"{state} {count:,}" for state, count in sorted(checks.states.items()))
    lines = [
        f"### Release on {backend} ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores,"
        f" load average {load})",
        "",
        f"Command: `{command}`",
        "",
        f"Setup (not timed): {args.messages:,} messages from {args.conversations:,} customers"
        f" through `hub.ingest` in {setup.seconds:.1f} s"
        f" ({args.messages / setup.seconds:,.0f} msg/s), {setup.held:,} held until Monday 09:00.",
        "",
        "| measure | baseline | hub | hub / baseline |",
        "| --- | --- | --- | --- |",
        f"| release rate (msg/s) | {base.per_second:,.0f} | {hub_rate:,.0f} |"
        f" {hub_rate / base.per_second:.2f} |",
        f"| time to release all (s) | {base.seconds:.2f} | {release.delivered_seconds:.2f} | |",
        f"| target: all released within {TARGET_SECONDS:.0f} s | |"
        f" {'**met**' if met else '**not met**'} ({release.delivered_seconds:.1f} s) | |",
        f"| messages released | {base.rows:,} | {release.released:,} | |",
        f"| message states afterwards | | {states} | |",
        f"| `message.created` events received by the agents (stored) | |"
        f" {checks.delivered:,} ({checks.stored_events:,}); {checks.duplicates} duplicates,"
        f" {checks.missing} missing, {checks.overflowed} subscriptions cut off | |",
        f"| conversations whose events came in arrival order | | {order} | |",
        f"| all checks | | {'passed' if checks.ok(args.messages) else '**failed**'} | |",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--database", help="postgresql://... (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup, release, checks, base = await hub_run(args, Path(tmp))
    print(report(args, setup, release, checks, base))
    if not checks.ok(args.messages):
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
