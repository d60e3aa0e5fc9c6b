"""What a message costs the hub arriving by the signed WhatsApp and Twilio webhooks, against
the same message by the API channel, on one real ``hub run`` process in one run.

    python -m bench.mobile [--seconds 10] [--rounds 3] [--pool N] [--database postgresql://...]

Three kinds of request, each a new message (a unique id): the API channel's
JSON with the bearer token (the baseline), Meta's webhook JSON signed with the
app secret (``X-Hub-Signature-256``), and Twilio's form signed with the Auth
Token over ``http.public_url`` and the path (``X-Twilio-Signature``). Each kind
has its own 1,000 customers (phone numbers), each of whom writes once before the
rounds (not timed: a first contact costs more than what is measured). wrk's Lua
cannot compute an HMAC, so every request is signed here first, --pool of each
kind for each round (default 8,000 for each second of --seconds), into a file the
one Lua script walks for all three kinds (each wrk thread its own share). The
kinds take turns for --rounds rounds, the order rotated each round; after each
turn the messages stored on its channel are counted in the database, and the
report says loudly if an answer was not 2xx, an id was sent twice (the pool ran
out) or an accepted message is not stored.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import Select, create_engine, func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bench.customers import median
from bench.databases import fresh_database
from bench.index_cost import server_cpu, spent
from bench.ingest import Hub
from bench.load import CUSTOMERS, WrkResult, cpu_seconds, run_wrk
from bench.signed_pool import (
    CHANNELS,
    KINDS,
    POOL_SCRIPT,
    PUBLIC_URL,
    SECRETS,
    Kind,
    pool_path,
    read_pool,
    write_pool,
)
from hub.db.postgres_backend import asyncpg_url
from hub.db.schema import messages

WRK_THREADS = 2
"""As ``run_wrk`` starts wrk (``-t2``): each thread walks its share of a pool."""
POOL_PER_SECOND = 8_000
"""Above the most this machine has ingested (about 7,000 a second on SQLite, 2026-11-29)."""
WARM_UP_CONCURRENCY = 20
SETTLE_SECONDS = 2.0
"""After wrk stops, for the requests it left in flight to land before the count."""


async def warm_up(hub: Hub, folder: Path) -> None:
    """One message from each kind's customers, not timed: each customer's first contact (a
    customer, an identity, a conversation, an owner) costs more than what is measured."""
    async with aiohttp.ClientSession() as session:
        for kind in KINDS:
            requests = read_pool(pool_path(folder, kind, 0))
            for start in range(0, len(requests), WARM_UP_CONCURRENCY):
                batch = requests[start : start + WARM_UP_CONCURRENCY]
                await asyncio.gather(*(post(session, hub, kind, *request) for request in batch))


async def post(session: aiohttp.ClientSession, hub: Hub, kind: Kind, value: str, body: str) -> None:
    headers = {kind.header: value, "Content-Type": kind.content_type}
    async with session.post(hub.url + kind.path, headers=headers, data=body) as answer:
        if answer.status >= 300:
            raise RuntimeError(
                f"{kind.name} warm-up answered {answer.status}: {await answer.text()}"
            )


@dataclass(frozen=True)
class Turn:
    """One kind's turn: wrk's result, the requests its script built (and of them, beyond the
    pool: repeated ids), the messages stored on its channel, the CPU spent per message stored
    by the hub and by its PostgreSQL backends."""

    wrk: WrkResult
    built: int
    pooled: int
    beyond: int
    stored: int
    hub_cpu_us: float
    server_cpu_us: float


def stored_by_channel(database: str) -> dict[str, int]:
    """Inbound messages stored, by channel."""
    query = (
        select(messages.c.channel, func.count())
        .where(messages.c.direction == "in")
        .group_by(messages.c.channel)
    )
    if database.startswith("postgresql"):
        return asyncio.run(_stored_on_postgres(database, query))
    engine = create_engine(database)
    with engine.connect() as conn:
        found = dict(conn.execute(query).all())
    engine.dispose()
    return found


async def _stored_on_postgres(database: str, query: Select) -> dict[str, int]:
    engine = create_async_engine(asyncpg_url(database))
    async with engine.connect() as conn:
        found = dict((await conn.execute(query)).all())
    await engine.dispose()
    return found


def take_turn(hub: Hub, pid: int, kind: Kind, batch: int, seconds: int) -> Turn:
    before = stored_by_channel(hub.database).get(kind.channel, 0)
    cpu_before, server_before = cpu_seconds(pid), asyncio.run(server_cpu(hub.database))
    pool = pool_path(hub.config.parent, kind, batch)
    result = run_wrk(
        hub.url + kind.path,
        seconds,
        {"Content-Type": kind.content_type},
        kind.name,
        POOL_SCRIPT,
        (str(pool), kind.header, str(WRK_THREADS)),
    )
    time.sleep(SETTLE_SECONDS)
    stored = stored_by_channel(hub.database).get(kind.channel, 0) - before
    hub_cpu = cpu_seconds(pid) - cpu_before
    server = spent(server_before, asyncio.run(server_cpu(hub.database)))
    built, pooled, beyond = map(
        int, re.search(r"pool: built (\d+) of (\d+), beyond (\d+)", result.output).groups()
    )
    per_message = 1e6 / max(stored, 1)
    return Turn(result, built, pooled, beyond, stored, hub_cpu * per_message, server * per_message)


def rotated(round_: int) -> tuple[Kind, ...]:
    shift = round_ % len(KINDS)
    return KINDS[shift:] + KINDS[:shift]


@dataclass(frozen=True)
class Round:
    turns: dict[str, Turn]
    order: tuple[str, ...]
    load: float
    """The 1-minute load average after the round."""


def run_rounds(hub: Hub, pid: int, args: argparse.Namespace) -> list[Round]:
    rounds: list[Round] = []
    for round_ in range(args.rounds):
        turns: dict[str, Turn] = {}
        for kind in rotated(round_):
            print(f"round {round_ + 1}: {kind.name} ...", file=sys.stderr)
            turns[kind.name] = take_turn(hub, pid, kind, round_ + 1, args.seconds)
        order = tuple(kind.name for kind in rotated(round_))
        rounds.append(Round(turns, order, os.getloadavg()[0]))
    return rounds


def middle(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def report(args: argparse.Namespace, rounds: list[Round], started: str) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    turns = {kind.name: [r.turns[kind.name] for r in rounds] for kind in KINDS}
    chosen = {name: median([t.wrk for t in found]) for name, found in turns.items()}
    rate = {name: result.requests_per_second for name, result in chosen.items()}
    command = shlex.join(["python", "-m", "bench.mobile", *sys.argv[1:]])
    loads = [r.load for r in rounds]
    lines = [
        f"## Mobile channels on {backend} ({started} UTC, {os.cpu_count()} cores, load average "
        f"{min(loads):.1f}-{max(loads):.1f})",
        "",
        f"Command: `{command}`",
        "",
        f"| measure (median of {args.rounds} rounds) | API (baseline) | WhatsApp | Twilio |",
        "| --- | --- | --- | --- |",
        row("messages/s, wrk 50 connections", [f"{rate[k.name]:,.0f}" for k in KINDS]),
        row("ratio to API", [f"{rate[k.name] / rate['api']:.2f}" for k in KINDS]),
        row(
            "wrk latency p50 / p99 (ms)",
            [f"{chosen[k.name].p50_ms:.1f} / {chosen[k.name].p99_ms:.1f}" for k in KINDS],
        ),
        row("hub CPU per message stored (µs)", medians(turns, "hub_cpu_us")),
    ]
    if args.database:
        lines.append(
            row("PostgreSQL backends' CPU per message (µs)", medians(turns, "server_cpu_us"))
        )
    lines += [
        row("non-2xx answers, all rounds", totals(turns, "non_2xx")),
        row("stored / accepted (2xx), all rounds", totals(turns, "stored", "accepted")),
        row("requests built / signed pool, all rounds", totals(turns, "built", "pooled")),
        "",
        *rounds_table(rounds),
        "",
        *verdicts(turns),
    ]
    return "\n".join(lines)


def row(measure: str, cells: list[str]) -> str:
    return f"| {measure} | " + " | ".join(cells) + " |"


def medians(turns: dict[str, list[Turn]], measure: str) -> list[str]:
    return [f"{middle([getattr(t, measure) for t in turns[k.name]]):,.0f}" for k in KINDS]


def count(turn: Turn, measure: str) -> int:
    if measure == "non_2xx":
        return turn.wrk.non_2xx
    if measure == "accepted":
        return turn.wrk.requests - turn.wrk.non_2xx
    return getattr(turn, measure)


def totals(turns: dict[str, list[Turn]], *measures: str) -> list[str]:
    """Each kind's sums over the rounds, ``a / b`` for two measures."""
    return [
        " / ".join(f"{sum(count(t, m) for t in turns[k.name]):,}" for m in measures) for k in KINDS
    ]


def rounds_table(rounds: list[Round]) -> list[str]:
    lines = [
        "| round | order | messages/s API / WhatsApp / Twilio | WhatsApp / API | Twilio / API "
        "| hub CPU µs per message API / WhatsApp / Twilio | load average |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, round_ in enumerate(rounds, 1):
        rates = {n: t.wrk.requests_per_second for n, t in round_.turns.items()}
        cpu = " / ".join(f"{round_.turns[k.name].hub_cpu_us:,.0f}" for k in KINDS)
        lines.append(
            f"| {number} | {', '.join(round_.order)} | "
            + " / ".join(f"{rates[k.name]:,.0f}" for k in KINDS)
            + f" | {rates['whatsapp'] / rates['api']:.2f} | {rates['twilio'] / rates['api']:.2f}"
            + f" | {cpu} | {round_.load:.1f} |"
        )
    return lines


def verdicts(turns: dict[str, list[Turn]]) -> list[str]:
    """What must hold for the figures to mean what they say, said loudly where it does not."""
    found = []
    for name, its in turns.items():
        refused = sum(t.wrk.non_2xx for t in its)
        repeated = sum(t.beyond for t in its)
        lost = sum(max(0, count(t, "accepted") - t.stored) for t in its)
        if refused:
            found.append(f"**{name}: {refused} answers not 2xx: its rate is not a message rate.**")
        if repeated:
            found.append(
                f"**{name}: the signed pool ran out, {repeated} requests repeated an id "
                "(duplicates, not new messages): raise --pool.**"
            )
        if lost:
            found.append(f"**{name}: {lost} accepted messages are not stored.**")
    return found or [
        "Checks: every answer 2xx; no id repeated (each turn built fewer requests than its "
        "pool held); every accepted message stored (stored counts exceed accepted by the "
        "requests still in flight when wrk stopped)."
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pool", type=int, help="signed requests a kind a round")
    parser.add_argument("--database", help="postgresql://host/db to create a database beside")
    args = parser.parse_args()
    args.pool = args.pool or POOL_PER_SECOND * args.seconds
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"signing {args.pool:,} requests a kind a round ...", file=sys.stderr)
        for kind in KINDS:
            write_pool(folder, kind, 0, CUSTOMERS)
            for round_ in range(args.rounds):
                write_pool(folder, kind, round_ + 1, args.pool)
        async with fresh_database(args.database, folder, "mobile") as url:
            rounds = await measure(Hub(folder, url, CHANNELS, PUBLIC_URL), args)
    print(report(args, rounds, started))


async def measure(hub: Hub, args: argparse.Namespace) -> list[Round]:
    hub.env.update(SECRETS)
    await asyncio.to_thread(hub.prepare)
    with hub.serving() as proc:
        print("warm-up: a first message from each customer ...", file=sys.stderr)
        await warm_up(hub, hub.config.parent)
        stored = await asyncio.to_thread(stored_by_channel, hub.database)
        if any(stored.get(kind.channel) != CUSTOMERS for kind in KINDS):
            raise RuntimeError(f"warm-up: {CUSTOMERS} messages a channel sent, stored {stored}")
        return await asyncio.to_thread(run_rounds, hub, proc.pid, args)


if __name__ == "__main__":
    asyncio.run(main())
