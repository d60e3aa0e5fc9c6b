"""What a customer's first contact costs against a returning customer's message, in process.

    python -m bench.first_contact [--messages 300] [--database postgresql://...]

A hub in this process (no HTTP, no load generator) on a fresh database with one
agent ingests API-channel messages: first from ``--messages`` new customers
(each a first contact: a customer, an identity, a conversation and an owner
are created), then one more from each of them (returning customers, the
baseline). Each kind runs twice: one message at a time (latency) and all at
once (what the group commit makes of a burst). The ratio says how much more
a first contact costs; ``bench.ingest``'s latency phase starts with such a burst.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.auth import hash_password
from hub.team import create_agent

TOKEN = "bench-token-0123456789"
Send = Callable[[int], Awaitable[float]]


def settings_for(url: str) -> Settings:
    channel = {"kind": "api", "name": "sms", "token_env": "BENCH_TOKEN", "identity_kind": "phone"}
    return Settings.model_validate(
        {"database": {"url": url}, "channels": [channel]},
        context={"environ": {"BENCH_TOKEN": TOKEN}},
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def sender(hub: Hub, round_name: str) -> Send:
    """Ingests one message from customer ``n``; answers how long it took, in ms."""

    async def send(n: int) -> float:
        message = InboundMessage(
            channel="sms",
            external_id=f"{round_name}-{n}",
            sender=Address("phone", f"+1999{n}"),
            text="bench",
        )
        started = time.perf_counter()
        await hub.ingest(message)
        return (time.perf_counter() - started) * 1000

    return send


async def one_at_a_time(send: Send, customers: range) -> list[float]:
    return [await send(n) for n in customers]


async def all_at_once(send: Send, customers: range) -> list[float]:
    return list(await asyncio.gather(*(send(n) for n in customers)))


async def measure(url: str, messages: int) -> dict[str, list[float]]:
    hub = Hub(settings_for(url))
    await hub.start(run_workers=False)
    try:
        agent = partial(
            create_agent, None, "bench@example.com", "Bench", hash_password("x"), "agent"
        )
        await hub.db.write(agent)
        half = messages // 2
        first_alone, first_burst = range(half), range(half, messages)
        return {
            "first contact, one at a time": await one_at_a_time(sender(hub, "a"), first_alone),
            "first contact, all at once": await all_at_once(sender(hub, "b"), first_burst),
            "returning, one at a time": await one_at_a_time(sender(hub, "c"), first_alone),
            "returning, all at once": await all_at_once(sender(hub, "d"), first_burst),
        }
    finally:
        await hub.stop()


def report(args: argparse.Namespace, results: dict[str, list[float]]) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    lines = [
        f"## First contact vs returning customer on {backend} ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"Command: `python -m bench.first_contact --messages {args.messages}"
        + (f" --database {args.database}`" if args.database else "`"),
        "",
        "| messages | p50 (ms) | p99 (ms) |",
        "| --- | --- | --- |",
    ]
    for label, ms in results.items():
        lines.append(
            f"| {label} ({len(ms)}) | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.99):.1f} |"
        )
    for how in ("one at a time", "all at once"):
        first = percentile(results[f"first contact, {how}"], 0.5)
        returning = percentile(results[f"returning, {how}"], 0.5)
        lines.append(f"\nFirst contact / returning, p50, {how}: **{first / returning:.1f}**")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=600, help="new customers, split in two")
    parser.add_argument("--database", help="postgresql://... (default: a SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{Path(tmp) / 'hub.db'}"
        print(report(args, await measure(url, args.messages)))


if __name__ == "__main__":
    asyncio.run(main())
