"""Memory of one hub process holding 5,000 idle web chat widgets, against a bare server.

    python -m bench.widgets [--sockets 5000]

(a) baseline: a bare aiohttp server that accepts WebSockets and keeps them open;
(b) the hub: ``hub run`` with a web chat channel; every socket says hello, gets
    its visitor token and welcome, then stays idle.

Both are measured the same way: resident memory (VmRSS) of the server process
once every socket is open, and its growth over the idle process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.ingest import Hub
from bench.load import free_port, process

TARGET_MB = 300
OPENING_CONCURRENCY = 200
CHAT_CHANNEL = "  - {kind: webchat, name: chat}\n"


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def raise_open_files_limit(wanted: int) -> None:
    """Both ends of every socket live on this machine; children inherit the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


async def open_sockets(
    session: aiohttp.ClientSession, url: str, count: int, hello: bool
) -> list[aiohttp.ClientWebSocketResponse]:
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)

    async def open_one() -> aiohttp.ClientWebSocketResponse:
        async with gate:
            socket = await session.ws_connect(url, heartbeat=None)
            if hello:
                await socket.send_str(json.dumps({"type": "hello"}))
                welcome = json.loads((await socket.receive()).data)
                if welcome.get("type") != "welcome":
                    raise RuntimeError(f"hub answered hello with {welcome}")
            return socket

    return list(await asyncio.gather(*(open_one() for _ in range(count))))


async def measure(url: str, pid: int, count: int, hello: bool) -> tuple[float, float, float]:
    """Idle memory, memory with ``count`` sockets open, and seconds it took to open them."""
    idle = resident_mb(pid)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        sockets = await open_sockets(session, url, count, hello)
        opened_in = time.perf_counter() - started
        await asyncio.sleep(2)
        loaded = resident_mb(pid)
        await asyncio.gather(*(socket.close() for socket in sockets))
    return idle, loaded, opened_in


def baseline_server_args(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.widgets", "--serve-baseline", str(port)]


def serve_baseline(port: int) -> None:
    from aiohttp import web

    async def hold(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for _frame in socket:
            pass
        return socket

    app = web.Application()
    app.router.add_get("/ws", hold)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def report(
    count: int, baseline: tuple[float, float, float], hub: tuple[float, float, float]
) -> str:
    base_idle, base_loaded, base_time = baseline
    hub_idle, hub_loaded, hub_time = hub
    verdict = "met" if hub_loaded < TARGET_MB else "NOT met"
    return "\n".join(
        [
            f"## {count:,} idle widget WebSockets ({time.strftime('%Y-%m-%d')}, "
            f"{os.cpu_count()} cores)",
            "",
            f"Command: `python -m bench.widgets --sockets {count}`",
            "",
            "| measure | baseline (bare aiohttp) | hub | hub / baseline |",
            "| --- | --- | --- | --- |",
            f"| resident memory idle (MB) | {base_idle:.0f} | {hub_idle:.0f} | "
            f"{hub_idle / base_idle:.2f} |",
            f"| resident memory with {count:,} sockets (MB) | {base_loaded:.0f} | "
            f"{hub_loaded:.0f} | {hub_loaded / base_loaded:.2f} |",
            f"| growth per socket (KB) | {(base_loaded - base_idle) * 1024 / count:.1f} | "
            f"{(hub_loaded - hub_idle) * 1024 / count:.1f} | |",
            f"| time to open all sockets (s) | {base_time:.1f} | {hub_time:.1f} | |",
            "",
            f"Target: under {TARGET_MB} MB resident with {count:,} sockets: **{verdict}** "
            f"({hub_loaded:.0f} MB).",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_open_files_limit(4 * args.sockets + 1024)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print("baseline ...", file=sys.stderr)
    with process(baseline_server_args(port), dict(os.environ), url) as server:
        baseline = await measure(f"{url}/ws", server.pid, args.sockets, hello=False)
    with tempfile.TemporaryDirectory() as tmp:
        hub = Hub(Path(tmp), None, CHAT_CHANNEL)
        print("hub ...", file=sys.stderr)
        with hub.running() as server:
            measured = await measure(
                f"{hub.url}/webchat/chat/ws", server.pid, args.sockets, hello=True
            )
    print(report(args.sockets, baseline, measured))


if __name__ == "__main__":
    if "--serve-baseline" in sys.argv:
        serve_baseline(int(sys.argv[sys.argv.index("--serve-baseline") + 1]))
    else:
        asyncio.run(main())
