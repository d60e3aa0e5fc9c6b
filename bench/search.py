"""Search benchmark: the full-text index against the old substring scan, in one run.

    python -m bench.search [--messages 1000000] [--queries 200] [--database postgresql://...]

A fresh database at revision 0010 (before the index) is bulk-loaded: 10 agents,
one customer with a phone identity and one conversation per 10 messages, and
--messages messages of 8-20 words drawn from a 20,000-word vocabulary with
Zipf's law (a tenth of them with an email subject). Migrating to head then
builds the index over what is stored (timed). Then, on the same data:

(a) baseline: the inbox's old search, ``ILIKE/LIKE '%word%'`` over names,
    addresses and texts (``hub.inbox_views.list_conversations`` with ``q``);
(b) ``hub.search.search``, the code behind ``GET /api/search``, snippets included.

Words are rare (about 100 messages), medium (about 5,000) and common (one in
ten messages or more), plus two-word searches and customer names; each is
searched as an admin (everything) and as an agent (a tenth of the customers).
Times are of the read unit on one connection, without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from alembic import command
from sqlalchemy import Connection, create_engine, insert
from sqlalchemy.ext.asyncio import create_async_engine

from bench.databases import fresh_database
from bench.load import percentile
from hub.auth import Principal
from hub.db.migrate import alembic_config
from hub.db.postgres_backend import asyncpg_url
from hub.db.schema import agents, conversations, customers, identities, messages
from hub.inbox_views import ConversationFilter, list_conversations
from hub.search import Search, SearchFilter, search

AGENTS = 10
PER_CONVERSATION = 10
VOCABULARY = 20_000
BATCH = 50_000
TARGET_MS = 100.0
SEED = 17
START = datetime(2025, 1, 1, tzinfo=UTC)
SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]


def vocabulary(rng: random.Random) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))] = None
    return list(words)


class Corpus:
    """Message texts by Zipf's law over the vocabulary, reproducible from the seed."""

    def __init__(self, size: int) -> None:
        self.rng = random.Random(SEED)
        self.words = vocabulary(self.rng)
        self.weights = [1 / rank for rank in range(1, VOCABULARY + 1)]
        self.size = size

    def texts(self, count: int) -> list[str]:
        lengths = [self.rng.randint(8, 20) for _ in range(count)]
        drawn = iter(self.rng.choices(self.words, self.weights, k=sum(lengths)))
        return [" ".join(next(drawn) for _ in range(length)) for length in lengths]

    def word_near(self, expected_messages: int) -> str:
        """A word found in about ``expected_messages`` messages."""
        harmonic = sum(self.weights)
        words_total = self.size * 14
        rank = max(1, int(words_total / (harmonic * expected_messages)))
        return self.words[min(rank, VOCABULARY) - 1]


def customer_name(number: int) -> str:
    return f"Customer{number} Family{number % 997}"


def rows(corpus: Corpus) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(table, batch) in insertion order."""
    conversations_total = corpus.size // PER_CONVERSATION
    yield (
        "agents",
        [
            {
                "id": n,
                "email": f"agent{n}@example.com",
                "name": f"Agent {n}",
                "password_hash": "-",
                "role": "admin" if n == 1 else "agent",
                "active": True,
                "away": False,
                "created_at": START,
            }
            for n in range(1, AGENTS + 1)
        ],
    )
    for start in range(1, conversations_total + 1, BATCH):
        numbers = range(start, min(start + BATCH, conversations_total + 1))
        yield "customers", [customer_row(n) for n in numbers]
        yield "identities", [identity_row(n) for n in numbers]
        yield "conversations", [conversation_row(n) for n in numbers]
    for start in range(1, corpus.size + 1, BATCH):
        count = min(BATCH, corpus.size + 1 - start)
        texts = corpus.texts(count)
        yield "messages", [message_row(start + i, text) for i, text in enumerate(texts)]


def customer_row(n: int) -> dict[str, Any]:
    owner = 2 + n % (AGENTS - 1)
    return {
        "id": n,
        "name": customer_name(n),
        "owner_id": owner,
        "backup_id": None,
        "always_reachable": False,
        "created_at": START,
    }


def identity_row(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "customer_id": n,
        "kind": "phone",
        "address": f"+1555{n:07d}",
        "created_at": START,
    }


def conversation_row(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "customer_id": n,
        "state": "open" if n % 3 else "resolved",
        "assignee_id": 2 + n % (AGENTS - 1),
        "last_channel": "sms",
        "last_message_at": START + timedelta(minutes=n),
        "unread_count": 0,
        "created_at": START,
    }


def message_row(n: int, text: str) -> dict[str, Any]:
    return {
        "id": n,
        "conversation_id": 1 + (n - 1) // PER_CONVERSATION,
        "direction": "in" if n % 2 else "out",
        "channel": "mail" if n % 10 == 0 else "sms",
        "text": text,
        "state": "received",
        "meta": {"subject": " ".join(text.split()[:4])} if n % 10 == 0 else None,
        "created_at": START + timedelta(seconds=n),
    }


TABLES = {
    "agents": agents,
    "customers": customers,
    "identities": identities,
    "conversations": conversations,
    "messages": messages,
}


def migrate(conn: Connection, revision: str) -> None:
    command.upgrade(alembic_config(conn), revision)


def load_sqlite(url: str, corpus: Corpus) -> float:
    """Bulk load at 0010 (executemany), then the migration indexes it; its seconds."""
    engine = create_engine(url)
    with engine.begin() as conn:
        migrate(conn, "0010")
        for table, batch in rows(corpus):
            conn.execute(insert(TABLES[table]), batch)
    started = time.perf_counter()
    with engine.begin() as conn:
        migrate(conn, "head")
    indexing = time.perf_counter() - started
    engine.dispose()
    return indexing


async def load_postgres(url: str, corpus: Corpus) -> float:
    """Migrate to 0010, COPY the rows in, then migrate to head; the indexing's seconds."""
    engine = create_async_engine(asyncpg_url(url))
    async with engine.begin() as conn:
        await conn.run_sync(migrate, "0010")
    raw = await asyncpg.connect(url)
    try:
        for table, batch in rows(corpus):
            columns = list(batch[0])
            records = [tuple(_pg_value(row[c]) for c in columns) for row in batch]
            await raw.copy_records_to_table(table, records=records, columns=columns)
        await raw.execute("ANALYZE")
    finally:
        await raw.close()
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.run_sync(migrate, "head")
        await conn.exec_driver_sql("ANALYZE")
    indexing = time.perf_counter() - started
    await engine.dispose()
    return indexing


def _pg_value(value: Any) -> Any:
    import json

    return json.dumps(value) if isinstance(value, dict) else value


def query_set(corpus: Corpus, count: int) -> list[tuple[str, str]]:
    """(kind, words) searched, in a fixed shuffled order."""
    rng = random.Random(SEED + 1)
    conversations_total = corpus.size // PER_CONVERSATION
    kinds: dict[str, Callable[[], str]] = {
        "rare word": lambda: corpus.word_near(rng.randint(50, 200)),
        "medium word": lambda: corpus.word_near(rng.randint(2_000, 8_000)),
        "common word": lambda: corpus.words[rng.randint(0, 9)],
        "two words": lambda: f"{corpus.word_near(5_000)} {corpus.word_near(rng.randint(50, 500))}",
        "customer name": lambda: f"Customer{rng.randint(1, conversations_total)}",
    }
    queries = [(kind, make()) for _ in range(count // len(kinds)) for kind, make in kinds.items()]
    rng.shuffle(queries)
    return queries


ADMIN = Principal(1, "Admin", "admin", "", False)
AGENT = Principal(2, "Agent", "agent", "", False)


def indexed(principal: Principal, words: str, conn: Connection) -> int:
    wanted = Search(tuple(words.split()), SearchFilter(), 20)
    found = search(principal, wanted, conn)
    return len(found["messages"]) + len(found["customers"])


def substring(principal: Principal, words: str, conn: Connection) -> int:
    wanted = ConversationFilter(None, principal.is_admin, words, 20)
    return len(list_conversations(principal, wanted, START, conn))


def timed(run: Callable[[Connection], int], conn: Connection) -> float:
    started = time.perf_counter()
    run(conn)
    return (time.perf_counter() - started) * 1000


Timings = dict[tuple[str, str, str], list[float]]


def measure(conn: Connection, queries: list[tuple[str, str]], baseline_every: int) -> Timings:
    """Milliseconds per (way, who, kind); the slow baseline runs on every n-th query."""
    found: Timings = {}
    for number, (kind, words) in enumerate(queries):
        for who, principal in (("admin", ADMIN), ("agent", AGENT)):
            key = ("index", who, kind)
            found.setdefault(key, []).append(timed(partial(indexed, principal, words), conn))
            if number % baseline_every == 0:
                key = ("substring", who, kind)
                found.setdefault(key, []).append(timed(partial(substring, principal, words), conn))
    return found


def run_sqlite(url: str, queries: list[tuple[str, str]], baseline_every: int) -> Timings:
    engine = create_engine(url)
    with engine.connect() as conn:
        for _, words in queries[:10]:
            indexed(ADMIN, words, conn)  # warm the page cache
        timings = measure(conn, queries, baseline_every)
    engine.dispose()
    return timings


async def run_postgres(url: str, queries: list[tuple[str, str]], baseline_every: int) -> Timings:
    engine = create_async_engine(asyncpg_url(url))
    async with engine.connect() as conn:
        for _, words in queries[:10]:
            await conn.run_sync(partial(indexed, ADMIN, words))
        timings = await conn.run_sync(
            partial(measure, queries=queries, baseline_every=baseline_every)
        )
    await engine.dispose()
    return timings


def p95(values: list[float]) -> float:
    return percentile(values, 0.95)


def report(args: argparse.Namespace, timings: Timings, indexing: float, loading: float) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    every_index = [ms for (way, _, _), values in timings.items() if way == "index" for ms in values]
    every_scan = [
        ms for (way, _, _), values in timings.items() if way == "substring" for ms in values
    ]
    overall = p95(every_index)
    verdict = "met" if overall < TARGET_MS else "NOT met"
    command = (
        f"python -m bench.search --messages {args.messages} --queries {args.queries}"
        f" --baseline-every {args.baseline_every}"
    )
    if args.database:
        command += f" --database {args.database}"
    lines = [
        f"## Search over {args.messages:,} messages, {backend} ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `{command}`",
        "",
        f"Bulk load {loading:.0f} s; the migration indexing what was stored: {indexing:.0f} s.",
        "",
        "| searched | who | substring scan p50 / p95 (ms) | index p50 / p95 (ms) | p95 ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for (way, who, kind), values in sorted(timings.items()):
        if way != "index":
            continue
        scan = timings.get(("substring", who, kind), [])
        scan_text = f"{percentile(scan, 0.5):,.1f} / {p95(scan):,.1f}" if scan else "-"
        ratio = f"{p95(scan) / p95(values):,.0f}x" if scan else ""
        lines.append(
            f"| {kind} | {who} | {scan_text} | {percentile(values, 0.5):.1f} / {p95(values):.1f}"
            f" | {ratio} |"
        )
    lines += [
        f"| **every search** | both | {percentile(every_scan, 0.5):,.1f} / {p95(every_scan):,.1f}"
        f" ({len(every_scan)}) | {percentile(every_index, 0.5):.1f} / {overall:.1f}"
        f" ({len(every_index)}) | {p95(every_scan) / overall:,.0f}x |",
        "",
        f"Target: index p95 under {TARGET_MS:.0f} ms: **{verdict}**.",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-every", type=int, default=5, help="scan on every n-th query")
    parser.add_argument("--database", help="postgresql://host/db to create a database beside")
    args = parser.parse_args()
    corpus = Corpus(args.messages)
    queries = query_set(corpus, args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(args.database, Path(tmp), "search") as url:
            print(f"loading {args.messages:,} messages ...", file=sys.stderr)
            started = time.perf_counter()
            if args.database:
                indexing = await load_postgres(url, corpus)
            else:
                indexing = await asyncio.to_thread(load_sqlite, url, corpus)
            loading = time.perf_counter() - started - indexing
            print(f"searching {len(queries)} times ...", file=sys.stderr)
            if args.database:
                timings = await run_postgres(url, queries, args.baseline_every)
            else:
                timings = await asyncio.to_thread(run_sqlite, url, queries, args.baseline_every)
    print(report(args, timings, indexing, loading))


if __name__ == "__main__":
    asyncio.run(main())
