"""Ingest benchmark: the hub against a bare aiohttp + sqlite3 handler, in one run.

    python -m bench.ingest [--seconds 15] [--rate 500] [--database postgresql://...]
                           [--search-index on|off|both] [--rounds 3]

(a) baseline: a bare aiohttp handler that inserts one row with sqlite3 (WAL,
    synchronous=NORMAL) and commits, per request (asyncpg for --database
    postgresql://...);
(b) the hub: API-channel messages end to end, each stored, routed and received
    by a connected agent WebSocket.

Throughput is measured with wrk (50 connections, unique message ids from a Lua
script); latency at a fixed rate from the moment a request is sent to the
moment the agent's WebSocket receives the message. Needs Debian's ``wrk``.

``--search-index both`` runs two hubs side by side, each on a fresh database
(with --database, one created beside it and dropped after), one with the
full-text index and one with it dropped after migrating (``off``), and lets
them take turns for --rounds rounds, to show what keeping the index in step
costs each write (a noisy minute on a shared machine hurts both alike).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from bench.databases import fresh_database
from bench.index_cost import Round, median_round, rounds_report, server_cpu, spent
from bench.latency import Sample, events_in, fixed_rate_latency, latency_rows
from bench.load import ROOT, TOKEN, WrkResult, cpu_seconds, free_port, process, run_wrk
from hub.db.postgres_backend import asyncpg_url
from hub.db.search_index import drop_search_index


class Hub:
    """A real ``hub run`` process with one agent, its bearer token and a counting WebSocket."""

    def __init__(
        self,
        workdir: Path,
        database: str | None,
        extra_channels: str = "",
        public_url: str | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = db_url = database or f"sqlite:///{workdir / 'hub.db'}"
        self.config = workdir / "hub.yaml"
        public = f', public_url: "{public_url}"' if public_url else ""
        self.config.write_text(
            textwrap.dedent(
                f"""
                database: {{url: "{db_url}"}}
                http: {{host: 127.0.0.1, port: {self.port}{public}}}
                channels:
                  - {{kind: api, name: sms, token_env: BENCH_TOKEN, identity_kind: phone}}
                """
            )
            + extra_channels
        )
        self.env = {**os.environ, "BENCH_TOKEN": TOKEN}

    def drop_search_index(self) -> None:
        """What the hub costs without the search index (bench only: the schema is incomplete)."""
        if self.database.startswith("postgresql"):
            asyncio.run(_drop_on_postgres(self.database))
            return
        engine = create_engine(self.database)
        with engine.begin() as conn:
            drop_search_index(conn)
        engine.dispose()

    def prepare(self) -> None:
        """Migrate the database and create the agent (``create-admin`` does both)."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hub",
                "create-admin",
                "bench@example.com",
                "Bench",
                "--password-stdin",
                "--config",
                str(self.config),
            ],
            input="bench-password\n",
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )

    @contextmanager
    def serving(self) -> Iterator[subprocess.Popen]:
        with process(
            [sys.executable, "-m", "hub", "run", "--config", str(self.config)], self.env, self.url
        ) as proc:
            yield proc

    @contextmanager
    def running(self) -> Iterator[subprocess.Popen]:
        self.prepare()
        with self.serving() as proc:
            yield proc

    async def agent_token(self) -> str:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{self.url}/api/tokens",
                json={"email": "bench@example.com", "password": "bench-password"},
            ) as response,
        ):
            return (await response.json())["token"]


async def _drop_on_postgres(database: str) -> None:
    engine = create_async_engine(asyncpg_url(database))
    async with engine.begin() as conn:
        await conn.run_sync(drop_search_index)
    await engine.dispose()


async def count_agent_events(url: str, token: str, stop: asyncio.Event) -> int:
    received = 0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(
            f"{url}/api/events", headers={"Authorization": f"Bearer {token}"}
        ) as socket_,
    ):
        while not stop.is_set():
            try:
                frame = await asyncio.wait_for(socket_.receive(), 0.5)
            except TimeoutError:
                continue
            if frame.type != aiohttp.WSMsgType.TEXT:
                print(
                    f"agent WebSocket ended: {frame.type.name} {frame.data} {frame.extra}",
                    file=sys.stderr,
                )
                break
            received += sum(e.get("kind") == "message.created" for e in events_in(frame.data))
    return received


async def hub_throughput(hub: Hub, seconds: int, prefix: str = "tp") -> tuple[WrkResult, int]:
    token = await hub.agent_token()
    stop = asyncio.Event()
    counter = asyncio.create_task(count_agent_events(hub.url, token, stop))
    await asyncio.sleep(0.5)
    result = await asyncio.to_thread(
        run_wrk,
        f"{hub.url}/channels/sms/messages",
        seconds,
        {"Authorization": f"Bearer {TOKEN}"},
        prefix,
    )
    await asyncio.sleep(3)
    stop.set()
    return result, await counter


def baseline_throughput(workdir: Path, seconds: int, database: str | None) -> WrkResult:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "bench.baseline", "--port", str(port)]
    args += ["--database", database or f"sqlite:///{workdir / 'baseline.db'}"]
    with process(args, dict(os.environ), url):
        return run_wrk(f"{url}/messages", seconds, {}, "base")


def report(
    args: argparse.Namespace,
    baseline: WrkResult,
    hub: WrkResult,
    delivered: int,
    latencies: list[Sample],
    lost: int,
    index: str,
) -> str:
    backend = "PostgreSQL" if args.database else "SQLite"
    ratio = hub.requests_per_second / baseline.requests_per_second
    lines = [
        f"## Ingest on {backend}, search index {index} ({time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores)",
        "",
        f"Command: `python -m bench.ingest --seconds {args.seconds} --rate {args.rate}"
        f" --search-index {args.search_index}"
        + (f" --rounds {args.rounds}" if args.search_index == "both" else "")
        + (f" --database {args.database}`" if args.database else "`"),
        "",
        "| measure | baseline | hub | hub / baseline |",
        "| --- | --- | --- | --- |",
        f"| throughput, wrk 50 connections (req/s) | {baseline.requests_per_second:,.0f} | "
        f"{hub.requests_per_second:,.0f} | {ratio:.2f} |",
        f"| wrk latency p50 / p99 (ms) | {baseline.p50_ms:.1f} / {baseline.p99_ms:.1f} | "
        f"{hub.p50_ms:.1f} / {hub.p99_ms:.1f} | |",
        f"| non-2xx answers | {baseline.non_2xx} | {hub.non_2xx} | |",
        f"| messages received by the agent WebSocket | | {delivered:,} of {hub.requests:,} | |",
        *latency_rows(args.rate, latencies),
        f"| messages not received within 30 s at {args.rate} msg/s | | {lost} | |",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--database", help="postgresql://... (default: a SQLite file)")
    parser.add_argument("--search-index", choices=("on", "off", "both"), default="on")
    parser.add_argument("--rounds", type=int, default=3, help="turns each with --search-index both")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print("baseline ...", file=sys.stderr)
        baseline = await asyncio.to_thread(
            baseline_throughput, workdir, args.seconds, args.database
        )
        if args.search_index == "both":
            await compare_search_index(args, baseline, workdir)
            return
        async with fresh_or_given(args.database, workdir) as url:
            hub = await prepared_hub(workdir, url, args.search_index)
            with hub.serving():
                print(f"hub throughput, search index {args.search_index} ...", file=sys.stderr)
                throughput = await hub_throughput(hub, args.seconds)
                latency = await hub_latency(hub, args)
        print(report(args, baseline, *throughput, *latency, args.search_index))


def fresh_or_given(database: str | None, workdir: Path) -> contextlib.AbstractAsyncContextManager:
    """One hub runs on the database given (which must be empty), or on a new SQLite file."""
    if database:
        return contextlib.nullcontext(database)
    return fresh_database(None, workdir, "hub")


async def prepared_hub(workdir: Path, url: str, index: str) -> Hub:
    """A migrated hub with its agent; ``index`` off: its search index dropped."""
    place = workdir / index
    place.mkdir()
    hub = Hub(place, url)
    await asyncio.to_thread(hub.prepare)
    if index == "off":
        await asyncio.to_thread(hub.drop_search_index)
    return hub


async def hub_latency(hub: Hub, args: argparse.Namespace) -> tuple[list[Sample], int]:
    print(f"hub latency at {args.rate}/s ...", file=sys.stderr)
    return await fixed_rate_latency(hub.url, args.rate, args.seconds, await hub.agent_token())


async def compare_search_index(
    args: argparse.Namespace, baseline: WrkResult, workdir: Path
) -> None:
    """Hubs with and without the index side by side, taking turns (which goes first alternates
    too: the hub answering first in a round may meet the other's leftovers, or a quieter
    machine); each on a fresh database."""
    rounds: list[Round] = []
    async with (
        fresh_database(args.database, workdir, "index_on") as on_url,
        fresh_database(args.database, workdir, "index_off") as off_url,
    ):
        hubs = {"on": await prepared_hub(workdir, on_url, "on")}
        hubs["off"] = await prepared_hub(workdir, off_url, "off")
        with hubs["on"].serving() as on_process, hubs["off"].serving() as off_process:
            pids = {"on": on_process.pid, "off": off_process.pid}
            for round_ in range(args.rounds):
                rounds.append(await one_round(hubs, pids, round_, args.seconds))
            for index, hub in hubs.items():
                latency = await hub_latency(hub, args)
                print(report(args, baseline, *median_round(rounds, index), *latency, index) + "\n")
        print(rounds_report(rounds))


async def one_round(hubs: dict[str, Hub], pids: dict[str, int], round_: int, seconds: int) -> Round:
    found, cpu, server = {}, {}, {}
    order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
    for index in order:
        print(f"round {round_ + 1}: search index {index} ...", file=sys.stderr)
        before, server_before = cpu_seconds(pids[index]), await server_cpu(hubs[index].database)
        found[index] = await hub_throughput(hubs[index], seconds, f"tp{round_}")
        delivered = found[index][1]
        cpu[index] = (cpu_seconds(pids[index]) - before) * 1e6 / delivered
        server_after = await server_cpu(hubs[index].database)
        server[index] = spent(server_before, server_after) * 1e6 / delivered
    load = os.getloadavg()[0]
    sides = ("on", "off")
    return Round(*(f[i] for f in (found, cpu, server) for i in sides), load, order[0])


if __name__ == "__main__":
    asyncio.run(main())
