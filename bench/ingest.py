"""Ingest benchmark: the hub against a bare aiohttp + sqlite3 handler, in one run.

    python -m bench.ingest [--seconds 15] [--rate 500] [--database postgresql://...]
                           [--search-index on|off|both]

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
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import aiohttp
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from bench.databases import fresh_database
from hub.db.postgres_backend import asyncpg_url
from hub.db.search_index import drop_search_index

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789"
CUSTOMERS = 1000
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
      prefix = args[1] or "m"
    end
    request = function()
      counter = counter + 1
      local id = prefix .. "-" .. thread_id .. "-" .. counter
      local body = '{"id":"' .. id .. '","from":{"address":"+1555' .. (counter % %(customers)d)
        .. '"},"text":"bench ' .. id .. '"}'
      return wrk.format("POST", nil, nil, body)
    end
    """
).replace("%(customers)d", str(CUSTOMERS))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[subprocess.Popen]:
    """The server's output goes to a file: a pipe nobody reads would fill with its access
    log and stop the server mid-run."""
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_up(ready_url, proc, output)
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until_up(url: str, proc: subprocess.Popen, output: IO[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output.seek(0)
            raise RuntimeError(f"server exited early:\n{output.read().decode()}")
        try:
            with socket.create_connection(url_host_port(url), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up")


def url_host_port(url: str) -> tuple[str, int]:
    host, port = re.match(r"https?://([^:/]+):(\d+)", url).groups()
    return host, int(port)


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    p50_ms: float
    p99_ms: float


def run_wrk(
    url: str,
    seconds: int,
    headers: dict[str, str],
    prefix: str,
    lua: str = WRK_SCRIPT,
    lua_args: tuple[str, ...] = (),
    connections: int = 50,
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*args, url, "--", prefix, *lua_args], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(script.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        p50_ms=wrk_ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        p99_ms=wrk_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
    )


def wrk_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def until_ready(socket_: aiohttp.ClientWebSocketResponse) -> None:
    """Wait for the socket's ``ready``: what commits before it, the socket does not send."""
    while (await socket_.receive_json()).get("kind") != "ready":
        pass


def events_in(frame: str) -> list[dict]:
    """The inbox socket's frames are arrays of events, or one control object."""
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


@dataclass(frozen=True)
class Sample:
    """One message's time from request to the agent's WebSocket."""

    sent_after: float
    """Seconds after the first request of the run."""
    first_contact: bool
    """The customer's first message (a new customer, identity, conversation, owner)."""
    ms: float


def latency_rows(rate: int, samples: list[Sample]) -> list[str]:
    """p50 / p99 over the whole run, after its first second, and split by first contact."""
    parts = {
        "whole run": samples,
        "after the first second": [s for s in samples if s.sent_after >= 1.0],
        "first contacts only": [s for s in samples if s.first_contact],
        "returning customers only": [s for s in samples if not s.first_contact],
    }
    rows = []
    for label, part in parts.items():
        if not part:
            continue
        ms = [s.ms for s in part]
        rows.append(
            f"| request to agent WebSocket at {rate} msg/s, {label} ({len(ms):,}), p50 / p99 (ms)"
            f" | | {percentile(ms, 0.5):.1f} / {percentile(ms, 0.99):.1f} | |"
        )
    return rows


async def fixed_rate_latency(
    hub_url: str, rate: int, seconds: int, agent_token: str
) -> tuple[list[Sample], int]:
    """Send ``rate`` messages a second; time each from send to the agent's WebSocket.

    The first ``CUSTOMERS`` messages are each a new customer's first contact.
    """
    sent: dict[str, tuple[float, int]] = {}
    latencies: list[Sample] = []
    start = 0.0
    total = rate * seconds
    done = asyncio.Event()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
        session.ws_connect(
            f"{hub_url}/api/events", headers={"Authorization": f"Bearer {agent_token}"}
        ) as socket_,
    ):

        async def receive() -> None:
            async for frame in socket_:
                for event in events_in(frame.data):
                    if event.get("kind") != "message.created":
                        continue
                    text = event["data"]["message"]["text"]
                    found = sent.pop(text.removeprefix("bench "), None)
                    if found is not None:
                        started, number = found
                        ms = (time.perf_counter() - started) * 1000
                        latencies.append(Sample(started - start, number < CUSTOMERS, ms))
                        if len(latencies) == total:
                            done.set()

        async def post(message_id: str, number: int) -> None:
            body = {
                "id": message_id,
                "from": {"address": f"+1666{number % CUSTOMERS}"},
                "text": f"bench {message_id}",
            }
            sent[message_id] = (time.perf_counter(), number)
            async with session.post(
                f"{hub_url}/channels/sms/messages", json=body, headers=headers
            ) as response:
                if response.status != 202:
                    raise RuntimeError(f"hub answered {response.status}: {await response.text()}")

        await until_ready(socket_)
        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        posts = []
        for number in range(total):
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            posts.append(asyncio.create_task(post(f"lat-{number}", number)))
        await asyncio.gather(*posts)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 30)
        receiver.cancel()
    return latencies, total - len(latencies)


class Hub:
    """A real ``hub run`` process with one agent, its bearer token and a counting WebSocket."""

    def __init__(self, workdir: Path, database: str | None, extra_channels: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = db_url = database or f"sqlite:///{workdir / 'hub.db'}"
        self.config = workdir / "hub.yaml"
        self.config.write_text(
            textwrap.dedent(
                f"""
                database: {{url: "{db_url}"}}
                http: {{host: 127.0.0.1, port: {self.port}}}
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
    found, cpu = {}, {}
    order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
    for index in order:
        print(f"round {round_ + 1}: search index {index} ...", file=sys.stderr)
        before = cpu_seconds(pids[index])
        found[index] = await hub_throughput(hubs[index], seconds, f"tp{round_}")
        cpu[index] = (cpu_seconds(pids[index]) - before) * 1e6 / found[index][1]
    load = os.getloadavg()[0]
    return Round(found["on"], found["off"], cpu["on"], cpu["off"], load, order[0])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its threads so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


if __name__ == "__main__":
    asyncio.run(main())
