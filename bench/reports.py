"""Report endpoints over a year of data: 50 agents, their customers, --messages messages.

    python -m bench.reports [--messages 1000000] [--repeat 3] [--database postgresql://...]

The rows are bulk-loaded (executemany on SQLite, COPY on PostgreSQL), not ingested:
conversations of ten messages, customer messages and replies alternating, over the
year before the run, under Berlin office hours with German holidays. A real ``hub run``
process counts what was loaded (as it does once after the upgrade that began counting,
timed and reported), then answers; each report is asked for the whole year (median of
--repeat calls, wall time at the client). The baseline, in the same run on the same database, is a
plain ``SELECT count(*)`` of the year's messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
from sqlalchemy import create_engine, func, insert, select

from bench.databases import fresh_database
from bench.ingest import Hub
from hub.api.reports import ROWS
from hub.db.schema import agents, channel_rules, contact_hours, conversations, customers, messages
from hub.db.search_index import flush_sqlite_queue

AGENTS = 50
MESSAGES_PER_CONVERSATION = 10
CONVERSATIONS_PER_CUSTOMER = 10
TARGET_SECONDS = 1.0
NO_TIMEOUT = aiohttp.ClientTimeout(total=None)
BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = {
    "zone": "Europe/Berlin",
    "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": {"country": "DE"},
}
REASONS = ("blocked by the user", "550 mailbox unavailable", "chat not found")
COLUMNS = (
    "id",
    "conversation_id",
    "direction",
    "channel",
    "author_id",
    "text",
    "state",
    "error",
    "created_at",
    "release_at",
)


def closed(moment: datetime) -> bool:
    local = moment.astimezone(BERLIN)
    return local.weekday() >= 5 or not 9 <= local.hour < 17


def year_of_rows(
    total_messages: int, start: datetime, end: datetime
) -> tuple[list[dict], list[dict], Iterator[tuple]]:
    """Customers, conversations and (lazily) messages for the year ``[start, end)``."""
    rng = random.Random(17)
    count = total_messages // MESSAGES_PER_CONVERSATION
    customer_count = max(1, count // CONVERSATIONS_PER_CUSTOMER)
    customer_rows = [
        {"id": n + 1, "name": f"Customer {n}", "owner_id": n % AGENTS + 1, "created_at": start}
        for n in range(customer_count)
    ]
    span = (end - start).total_seconds() - 7 * 86400
    starts = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    conversation_rows = []
    for n, opened in enumerate(starts):
        customer = n % customer_count + 1
        still_open = n >= count - customer_count and customer % 5 == 0
        conversation_rows.append(
            {
                "id": n + 1,
                "customer_id": customer,
                "state": "open" if still_open else "resolved",
                "assignee_id": (customer - 1) % AGENTS + 1,
                "last_channel": "sms",
                "last_message_at": opened,
                "unread_count": 0,
                "created_at": opened,
                "first_replied_at": opened,
                "reply_due_at": opened + timedelta(hours=2) if still_open else None,
            }
        )

    def message_tuples() -> Iterator[tuple]:
        ident = 0
        for row in conversation_rows:
            at = row["created_at"]
            owner = (row["customer_id"] - 1) % AGENTS + 1
            for position in range(MESSAGES_PER_CONVERSATION):
                ident += 1
                at += timedelta(minutes=rng.expovariate(1 / 240))
                if position % 2 == 0:
                    held = at + timedelta(hours=12) if closed(at) else None
                    yield (ident, row["id"], "in", "sms", None, "bench", "received", None, at, held)
                    continue
                author = owner if rng.random() < 0.85 else rng.randint(1, AGENTS)
                failed = rng.random() < 0.005
                state, error = ("failed", rng.choice(REASONS)) if failed else ("sent", None)
                yield (ident, row["id"], "out", "sms", author, "bench", state, error, at, None)

    return customer_rows, conversation_rows, message_tuples()


def setup_rows(start: datetime) -> tuple[list[dict], list[dict], list[dict]]:
    agent_rows = [
        {
            "id": n,
            "email": f"agent{n}@example.com",
            "name": f"Agent {n}",
            "password_hash": "x",
            "role": "agent",
            "active": True,
            "away": False,
            "created_at": start,
        }
        for n in range(2, AGENTS + 1)
    ]
    hours = [{"scope": "default", "subject": "", "definition": OFFICE, "updated_at": start}]
    rules = [
        {
            "channel": "*",
            "never_hold": False,
            "first_response_minutes": 60,
            "next_response_minutes": 240,
            "updated_at": start,
        }
    ]
    return agent_rows, hours, rules


def chunks(rows: Iterator[tuple], size: int = 50_000) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed_sqlite(url: str, total: int, start: datetime, end: datetime) -> None:
    customer_rows, conversation_rows, message_rows = year_of_rows(total, start, end)
    engine = create_engine(url)
    with engine.begin() as conn:
        agent_rows, hours, rules = setup_rows(start)
        conn.execute(insert(agents), agent_rows)
        conn.execute(contact_hours.delete())
        conn.execute(channel_rules.delete())
        conn.execute(insert(contact_hours), hours)
        conn.execute(insert(channel_rules), rules)
        conn.execute(insert(customers), customer_rows)
        conn.execute(insert(conversations), conversation_rows)
        for batch in chunks(message_rows):
            conn.execute(insert(messages), [dict(zip(COLUMNS, row, strict=True)) for row in batch])
        flush_sqlite_queue(conn.connection.dbapi_connection)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


async def seed_postgres(url: str, total: int, start: datetime, end: datetime) -> None:
    customer_rows, conversation_rows, message_rows = year_of_rows(total, start, end)
    agent_rows, hours, rules = setup_rows(start)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM contact_hours; DELETE FROM channel_rules")
        for table, rows in (
            ("agents", agent_rows),
            ("contact_hours", [{**h, "definition": json.dumps(h["definition"])} for h in hours]),
            ("channel_rules", rules),
            ("customers", customer_rows),
            ("conversations", conversation_rows),
        ):
            columns = list(rows[0])
            records = [tuple(row[c] for c in columns) for row in rows]
            await conn.copy_records_to_table(table, records=records, columns=columns)
        for batch in chunks(message_rows):
            await conn.copy_records_to_table("messages", records=batch, columns=COLUMNS)
        for table in ("agents", "customers", "conversations", "messages"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def timed_get(session: aiohttp.ClientSession, url: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        async with session.get(url) as response:
            assert response.status == 200, (url, response.status, await response.text())
            await response.read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def count_seconds_sqlite(url: str, start: datetime, end: datetime, repeat: int) -> float:
    engine = create_engine(url)
    query = select(func.count()).where(messages.c.created_at >= start, messages.c.created_at < end)
    times = []
    with engine.connect() as conn:
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(query).scalar()
            times.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(times)


async def count_seconds(url: str, start: datetime, end: datetime, repeat: int) -> float:
    """The baseline: the year's messages counted, the plainest query over the same rows."""
    if url.startswith("sqlite"):
        return await asyncio.to_thread(count_seconds_sqlite, url, start, end, repeat)
    conn = await asyncpg.connect(url)
    times = []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE created_at >= $1 AND created_at < $2",
                start,
                end,
            )
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return statistics.median(times)


async def measure(
    args: argparse.Namespace, workdir: Path
) -> tuple[dict[str, float], float, float, float]:
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=365)
    async with fresh_database(args.database, workdir, "reports") as url:
        hub = Hub(workdir, url)
        hub.prepare()
        print(f"loading {args.messages:,} messages ...", file=sys.stderr)
        started = time.perf_counter()
        if url.startswith("sqlite"):
            await asyncio.to_thread(seed_sqlite, url, args.messages, start, end)
        else:
            await seed_postgres(url, args.messages, start, end)
        loaded = time.perf_counter() - started
        print(f"  loaded in {loaded:.0f} s", file=sys.stderr)
        baseline = await count_seconds(url, start, end, args.repeat)
        period = f"from={start.date()}&to={(end - timedelta(days=1)).date()}&zone=Europe/Berlin"
        timings: dict[str, float] = {}
        with hub.serving():
            token = await hub.agent_token()
            headers = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=headers, timeout=NO_TIMEOUT) as session:
                counting = await counted(session, f"{hub.url}/api/reports/load?{period}")
                for name in ROWS:
                    url_ = f"{hub.url}/api/reports/{name}?{period}"
                    timings[name] = await timed_get(session, url_, args.repeat)
                    print(f"  {name}: {timings[name]:.3f} s", file=sys.stderr)
    return timings, baseline, loaded, counting


async def counted(session: aiohttp.ClientSession, url: str) -> float:
    """Seconds until the hub has counted the loaded messages (what it does once, after the
    upgrade that began counting; afterwards as messages land), showing its progress."""
    started = time.perf_counter()
    while True:
        async with session.get(url) as response:
            body = await response.json()
            if response.status == 200:
                break
            assert response.status == 503, (response.status, body)
            print(f"  counting: {body['percent']}%", file=sys.stderr)
        await asyncio.sleep(5)
    seconds = time.perf_counter() - started
    print(f"  counted in {seconds:.0f} s", file=sys.stderr)
    return seconds


def report(
    args: argparse.Namespace,
    timings: dict[str, float],
    baseline: float,
    loaded: float,
    counting: float,
) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    command = f"python -m bench.reports --messages {args.messages} --repeat {args.repeat}"
    if args.database:
        command += " --database postgresql://postgres@127.0.0.1:5432/postgres"
    lines = [
        f"### Reports over a year, {args.messages:,} messages, {AGENTS} agents, {backend} "
        f"({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{command}` (loaded in {loaded:.0f} s, counted by the hub in {counting:.0f} s)",
        "",
        f"| report (median of {args.repeat}) | seconds | vs count(*) baseline "
        f"({baseline * 1000:.1f} ms) | target < {TARGET_SECONDS:.0f} s |",
        "| --- | --- | --- | --- |",
    ]
    for name, seconds in timings.items():
        verdict = "met" if seconds < TARGET_SECONDS else "NOT met"
        lines.append(f"| {name} | {seconds:.3f} | {seconds / baseline:,.0f}x | {verdict} |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", help="postgresql://host/db to create a database beside")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        timings, baseline, loaded, counting = await measure(args, Path(tmp))
    print(report(args, timings, baseline, loaded, counting))


if __name__ == "__main__":
    asyncio.run(main())
