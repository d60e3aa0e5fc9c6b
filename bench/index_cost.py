"""What the search index costs ingest: ``bench.ingest --search-index both``'s rounds and
their report."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import asyncpg

from bench.load import WrkResult, cpu_seconds


@dataclass(frozen=True)
class Round:
    """One turn of each hub: wrk's result and what the agent received, the CPU time per
    message received of the hub and of its PostgreSQL backends (what the index costs,
    less moved by other processes than the rate), the load after and which went first."""

    on: tuple[WrkResult, int]
    off: tuple[WrkResult, int]
    on_cpu_us: float
    off_cpu_us: float
    on_server_us: float
    off_server_us: float
    load: float
    first: str


async def server_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving ``database`` (a server on this
    machine; none for SQLite), where PostgreSQL's share of the index's work is done."""
    if not database.startswith("postgresql"):
        return {}
    conn = await asyncpg.connect(database)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    found = {}
    for (pid,) in rows:
        with contextlib.suppress(FileNotFoundError):
            found[pid] = cpu_seconds(pid)
    return found


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """Between two :func:`server_cpu` readings (a backend that ended in between is lost)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def median_round(rounds: list[Round], index: str) -> tuple[WrkResult, int]:
    ordered = sorted((getattr(r, index) for r in rounds), key=lambda r: r[0].requests_per_second)
    return ordered[len(ordered) // 2]


def rounds_report(rounds: list[Round]) -> str:
    lines = [
        "| round | req/s index on / off | ratio | hub CPU per message, µs, on / off | ratio"
        " (off / on) | PostgreSQL backends' CPU per message, µs, on / off | first | load average |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, round_ in enumerate(rounds, 1):
        on, off = round_.on[0].requests_per_second, round_.off[0].requests_per_second
        lines.append(
            f"| {number} | {on:,.0f} / {off:,.0f} | {on / off:.2f} | {round_.on_cpu_us:.0f} / "
            f"{round_.off_cpu_us:.0f} | {round_.off_cpu_us / round_.on_cpu_us:.2f} | "
            f"{round_.on_server_us:.0f} / {round_.off_server_us:.0f} | "
            f"{round_.first} | {round_.load:.1f} |"
        )
    on, off = median_round(rounds, "on")[0], median_round(rounds, "off")[0]
    ratio = on.requests_per_second / off.requests_per_second
    on_cpu = sorted(r.on_cpu_us for r in rounds)[len(rounds) // 2]
    off_cpu = sorted(r.off_cpu_us for r in rounds)[len(rounds) // 2]
    on_server = sorted(r.on_server_us for r in rounds)[len(rounds) // 2]
    off_server = sorted(r.off_server_us for r in rounds)[len(rounds) // 2]
    summary = (
        f"With the search index / without, medians: throughput {ratio:.2f}, "
        f"hub CPU per message {off_cpu / on_cpu:.2f} (off / on)"
    )
    if on_server:
        summary += f", PostgreSQL backends' CPU per message {off_server / on_server:.2f}"
    return "\n".join([*lines, "", summary])
