"""Scale-out on PostgreSQL: two hub processes on one database against one process, in one run.

    python -m bench.scale_out --database postgresql://postgres@127.0.0.1:5432/postgres

(add --seconds N; 15 by default). A fresh database is created beside the one
named. Both phases send the same load, wrk with 50 connections split over two
wrk runs of 25: in the first phase both runs hit process A (the baseline); in
the second, one hits A and the other hits process B. An agent connected to
process A counts every message it is told about, so the second phase also
shows live events crossing processes (LISTEN/NOTIFY): the agent on A must hear
of B's messages too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.databases import fresh_database
from bench.ingest import Hub, count_agent_events
from bench.load import TOKEN, WrkResult, run_wrk

HALF = 25
SETTLE_SECONDS = 3


@dataclass
class Phase:
    """One phase: what each wrk run saw, and what the agent on process A was told."""

    runs: list[WrkResult]
    told: int

    @property
    def requests_per_second(self) -> float:
        return sum(run.requests_per_second for run in self.runs)

    @property
    def answered(self) -> int:
        return sum(run.requests for run in self.runs)

    @property
    def non_2xx(self) -> int:
        return sum(run.non_2xx for run in self.runs)


def load(hub: Hub, seconds: int, prefix: str) -> WrkResult:
    return run_wrk(
        f"{hub.url}/channels/sms/messages",
        seconds,
        {"Authorization": f"Bearer {TOKEN}"},
        prefix,
        connections=HALF,
    )


async def phase(listener: Hub, targets: tuple[Hub, Hub], seconds: int, name: str) -> Phase:
    """Both wrk runs at once, one per target; the agent listens on ``listener``."""
    stop = asyncio.Event()
    counter = asyncio.create_task(
        count_agent_events(listener.url, await listener.agent_token(), stop)
    )
    await asyncio.sleep(0.5)
    runs = await asyncio.gather(
        *(
            asyncio.to_thread(load, target, seconds, f"{name}{number}")
            for number, target in enumerate(targets)
        )
    )
    await asyncio.sleep(SETTLE_SECONDS)
    stop.set()
    return Phase(list(runs), await counter)


async def measure(database: str, workdir: Path, seconds: int) -> tuple[Phase, Phase]:
    async with fresh_database(database, workdir, "scale") as url:
        for name in ("a", "b"):
            (workdir / name).mkdir()
        first, second = Hub(workdir / "a", url), Hub(workdir / "b", url)
        first.prepare()
        with ExitStack() as running:
            running.enter_context(first.serving())
            print("one process ...", file=sys.stderr)
            alone = await phase(first, (first, first), seconds, "one")
            running.enter_context(second.serving())
            print("two processes ...", file=sys.stderr)
            together = await phase(first, (first, second), seconds, "two")
    return alone, together


def report(args: argparse.Namespace, alone: Phase, together: Phase) -> str:
    ratio = together.requests_per_second / alone.requests_per_second
    return "\n".join(
        [
            f"## Two hub processes vs one on PostgreSQL ({time.strftime('%Y-%m-%d')}, "
            f"{os.cpu_count()} cores)",
            "",
            f"Command: `python -m bench.scale_out --seconds {args.seconds} "
            f"--database {args.database}`",
            "",
            "| measure | one process (baseline) | two processes | two / one |",
            "| --- | --- | --- | --- |",
            f"| ingest, wrk 2 x {HALF} connections (req/s) | "
            f"{alone.requests_per_second:,.0f} | {together.requests_per_second:,.0f} | "
            f"{ratio:.2f} |",
            f"| non-2xx answers | {alone.non_2xx} | {together.non_2xx} | |",
            f"| messages the agent on process A was told of | {alone.told:,} of "
            f"{alone.answered:,} | {together.told:,} of {together.answered:,} | |",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--database", required=True, help="postgresql://host/db to create a database beside"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        alone, together = await measure(args.database, Path(tmp), args.seconds)
    print(report(args, alone, together))


if __name__ == "__main__":
    asyncio.run(main())
