"""Routing cost as the customer base grows: ingest with 1,000 vs 1,000,000 customers stored.

    python -m bench.customers [--seconds 15] [--large 1000000] [--rounds 3] [--database ...]

Two hubs, each on a fresh database: the first holds 1,000 customers, the second
1,000,000 (each with a phone identity, owned by the one agent). In both runs
wrk sends API-channel messages from the same number of active customers,
spread evenly over the whole base, so the difference is what finding the
sender, their customer, owner and open conversation costs in a large table.
Both hubs run side by side and take turns for --rounds rounds; the medians
are compared, so a noisy minute on a shared machine hurts both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, insert
from sqlalchemy.ext.asyncio import create_async_engine

from bench.databases import fresh_database
from bench.ingest import Hub
from bench.load import TOKEN, WrkResult, run_wrk
from hub.db.postgres_backend import asyncpg_url
from hub.db.schema import customers, identities
from hub.db.search_index import flush_sqlite_queue

SMALL = 1000
ACTIVE = 1000
BATCH = 50_000
TARGET = 0.8
WRK_SCRIPT = textwrap.dedent(
    """
    local counter = 0
    local thread_id = 0
    local next_id = 0
    function setup(thread)
      thread:set("tid", next_id)
      next_id = next_id + 1
    end
    function init(args)
      thread_id = tid
      prefix = args[1]
      step = tonumber(args[2])
    end
    request = function()
      counter = counter + 1
      local id = prefix .. "-" .. thread_id .. "-" .. counter
      local address = string.format("+1777%07d", (counter % %(active)d) * step)
      local body = '{"id":"' .. id .. '","from":{"address":"' .. address
        .. '"},"text":"bench ' .. id .. '"}'
      return wrk.format("POST", nil, nil, body)
    end
    """
).replace("%(active)d", str(ACTIVE))


def batches(total: int) -> Iterator[tuple[list[dict], list[dict]]]:
    """Customers and their phone identities, owned by the bench agent (agent 1)."""
    now = datetime.now(UTC)
    for start in range(0, total, BATCH):
        numbers = range(start, min(start + BATCH, total))
        yield (
            [
                {"id": n + 1, "name": f"Customer {n}", "owner_id": 1, "created_at": now}
                for n in numbers
            ],
            [
                {
                    "id": n + 1,
                    "customer_id": n + 1,
                    "kind": "phone",
                    "address": f"+1777{n:07d}",
                    "created_at": now,
                }
                for n in numbers
            ],
        )


def seed_sqlite(url: str, total: int) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for customer_rows, identity_rows in batches(total):
            conn.execute(insert(customers), customer_rows)
            conn.execute(insert(identities), identity_rows)
        flush_sqlite_queue(conn.connection.dbapi_connection)
    engine.dispose()


async def seed_postgres(url: str, total: int) -> None:
    engine = create_async_engine(asyncpg_url(url))
    async with engine.begin() as conn:
        for customer_rows, identity_rows in batches(total):
            await conn.execute(insert(customers), customer_rows)
            await conn.execute(insert(identities), identity_rows)
        for table in ("customers", "identities"):
            await conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {total})"
            )
        await conn.exec_driver_sql("ANALYZE")
    await engine.dispose()


async def seeded_hub(url: str, workdir: Path, total: int) -> Hub:
    place = workdir / str(total)
    place.mkdir()
    hub = Hub(place, url)
    hub.prepare()
    print(f"seeding {total:,} customers ...", file=sys.stderr)
    started = time.perf_counter()
    if url.startswith("sqlite"):
        await asyncio.to_thread(seed_sqlite, url, total)
    else:
        await seed_postgres(url, total)
    print(f"  seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return hub


def load(hub: Hub, total: int, seconds: int, round_: int) -> WrkResult:
    return run_wrk(
        f"{hub.url}/channels/sms/messages",
        seconds,
        {"Authorization": f"Bearer {TOKEN}"},
        f"c{total}r{round_}",
        WRK_SCRIPT,
        (str(max(1, total // ACTIVE)),),
    )


async def measure(
    server_url: str | None, workdir: Path, sizes: tuple[int, int], seconds: int, rounds: int
) -> tuple[list[WrkResult], list[WrkResult]]:
    """Both hubs run side by side and take turns, so a noisy minute hurts both alike."""
    async with (
        fresh_database(server_url, workdir, f"c{sizes[0]}") as small_url,
        fresh_database(server_url, workdir, f"c{sizes[1]}") as large_url,
    ):
        small = await seeded_hub(small_url, workdir, sizes[0])
        large = await seeded_hub(large_url, workdir, sizes[1])
        results: tuple[list[WrkResult], list[WrkResult]] = ([], [])
        with small.serving(), large.serving():
            for round_ in range(rounds):
                for hub, total, found in zip((small, large), sizes, results, strict=True):
                    print(f"round {round_ + 1}: {total:,} customers ...", file=sys.stderr)
                    found.append(await asyncio.to_thread(load, hub, total, seconds, round_))
    return results


def median(results: list[WrkResult]) -> WrkResult:
    return sorted(results, key=lambda result: result.requests_per_second)[len(results) // 2]


def report(args: argparse.Namespace, smalls: list[WrkResult], larges: list[WrkResult]) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    small, large = median(smalls), median(larges)
    ratio = large.requests_per_second / small.requests_per_second
    verdict = "met" if ratio >= TARGET else "NOT met"
    command = (
        f"python -m bench.customers --seconds {args.seconds} --large {args.large} "
        f"--rounds {args.rounds}"
    )
    every = " / ".join(
        f"{s.requests_per_second:,.0f} vs {g.requests_per_second:,.0f}"
        for s, g in zip(smalls, larges, strict=True)
    )
    return "\n".join(
        [
            f"## Routing cost, {SMALL:,} vs {args.large:,} customers, {backend} "
            f"({time.strftime('%Y-%m-%d')})",
            "",
            f"Command: `{command}" + (f" --database {args.database}`" if args.database else "`"),
            "",
            f"| measure (median of {args.rounds} alternating rounds) | {SMALL:,} customers "
            f"(baseline) | {args.large:,} customers | ratio |",
            "| --- | --- | --- | --- |",
            f"| ingest, wrk 50 connections (req/s) | {small.requests_per_second:,.0f} | "
            f"{large.requests_per_second:,.0f} | {ratio:.2f} |",
            f"| wrk latency p50 / p99 (ms) | {small.p50_ms:.1f} / {small.p99_ms:.1f} | "
            f"{large.p50_ms:.1f} / {large.p99_ms:.1f} | |",
            f"| non-2xx answers | {sum(r.non_2xx for r in smalls)} | "
            f"{sum(r.non_2xx for r in larges)} | |",
            "",
            f"Every round (req/s, small vs large): {every}.",
            "",
            f"Target: within 20 % of the small base (ratio >= {TARGET}): **{verdict}**.",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="postgresql://host/db to create databases beside")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        smalls, larges = await measure(
            args.database, Path(tmp), (SMALL, args.large), args.seconds, args.rounds
        )
    print(report(args, smalls, larges))


if __name__ == "__main__":
    asyncio.run(main())
