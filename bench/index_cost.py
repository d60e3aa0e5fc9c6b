"""What the search index costs ingest: ``bench.ingest --search-index both``'s rounds and
their report."""

from __future__ import annotations

from dataclasses import dataclass

from bench.load import WrkResult


@dataclass(frozen=True)
class Round:
    """One turn of each hub: wrk's result and what the agent received, the hub's CPU time
    per message received (what the index costs, less moved by other processes than the
    rate), the load after and which hub went first."""

    on: tuple[WrkResult, int]
    off: tuple[WrkResult, int]
    on_cpu_us: float
    off_cpu_us: float
    load: float
    first: str


def median_round(rounds: list[Round], index: str) -> tuple[WrkResult, int]:
    ordered = sorted((getattr(r, index) for r in rounds), key=lambda r: r[0].requests_per_second)
    return ordered[len(ordered) // 2]


def rounds_report(rounds: list[Round]) -> str:
    lines = [
        "| round | req/s index on / off | ratio | hub CPU per message, µs, on / off | ratio"
        " (off / on) | first | load average |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, round_ in enumerate(rounds, 1):
        on, off = round_.on[0].requests_per_second, round_.off[0].requests_per_second
        lines.append(
            f"| {number} | {on:,.0f} / {off:,.0f} | {on / off:.2f} | {round_.on_cpu_us:.0f} / "
            f"{round_.off_cpu_us:.0f} | {round_.off_cpu_us / round_.on_cpu_us:.2f} | "
            f"{round_.first} | {round_.load:.1f} |"
        )
    on, off = median_round(rounds, "on")[0], median_round(rounds, "off")[0]
    ratio = on.requests_per_second / off.requests_per_second
    on_cpu = sorted(r.on_cpu_us for r in rounds)[len(rounds) // 2]
    off_cpu = sorted(r.off_cpu_us for r in rounds)[len(rounds) // 2]
    summary = (
        f"With the search index / without, medians: throughput {ratio:.2f}, "
        f"hub CPU per message {off_cpu / on_cpu:.2f} (off / on)"
    )
    return "\n".join([*lines, "", summary])
