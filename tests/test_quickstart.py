"""README command (a): ``hub run --demo`` in an empty directory, as a newcomer runs it.

The real console entry runs as a subprocess on its embedded defaults (a SQLite
file in the working directory), whatever database the rest of the suite uses.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

STARTUP_SECONDS = 60
STOP_SECONDS = 10
INBOX_LINE = re.compile(r"^Inbox:\s+(http://\S+)$", re.MULTILINE)
LOGIN_LINE = re.compile(r"^\s+(admin|agent)\s+(\S+@\S+)\s+password:\s+(\S+)$", re.MULTILINE)
READY_LINE = "Press Ctrl+C to stop."


@dataclass
class Running:
    process: asyncio.subprocess.Process
    inbox_url: str
    logins: list[tuple[str, str, str]]
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.inbox_url.rstrip("/")

    def captured(self) -> str:
        return "".join(self.output)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """The caller's environment without any HUB_* setting (HUB_TEST_DATABASE_URL included)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}


async def read_until_ready(process: asyncio.subprocess.Process, output: list[str]) -> None:
    assert process.stdout is not None
    while True:
        line = (await process.stdout.readline()).decode()
        if not line:
            raise AssertionError(f"hub exited with {await process.wait()} before it was ready")
        output.append(line)
        if line.strip() == READY_LINE:
            return


async def drain(process: asyncio.subprocess.Process, output: list[str]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        output.append(line.decode())


@asynccontextmanager
async def hub_run_demo(workdir: Path) -> AsyncIterator[Running]:
    """``hub run --demo`` in ``workdir``; stopped with SIGINT, which must exit 0."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "run",
        "--demo",
        "--port",
        str(port),
        cwd=workdir,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    drainer: asyncio.Task[None] | None = None
    try:
        try:
            await asyncio.wait_for(read_until_ready(process, output), STARTUP_SECONDS)
        except (AssertionError, TimeoutError) as error:
            reason = str(error) or f"no welcome within {STARTUP_SECONDS} s"
            raise AssertionError(f"{reason}; output:\n{''.join(output)}") from None
        text = "".join(output)
        inbox = INBOX_LINE.search(text)
        assert inbox, f"no inbox URL printed:\n{text}"
        assert inbox.group(1).startswith(f"http://127.0.0.1:{port}"), text
        logins = LOGIN_LINE.findall(text)
        drainer = asyncio.create_task(drain(process, output))
        running = Running(process, inbox.group(1), logins, output)
        yield running
        process.send_signal(signal.SIGINT)
        try:
            code = await asyncio.wait_for(process.wait(), STOP_SECONDS)
        except TimeoutError:
            raise AssertionError(
                f"hub did not stop on SIGINT; output:\n{running.captured()}"
            ) from None
        await drainer
        assert code == 0, f"hub exited with {code} on SIGINT; output:\n{running.captured()}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if drainer is not None:
            drainer.cancel()


async def login(http: aiohttp.ClientSession, base: str, email: str, password: str) -> int:
    async with http.post(f"{base}/api/login", json={"email": email, "password": password}) as r:
        assert r.status == 200, f"{email}: {r.status} {await r.text()}"
        return (await r.json())["agent"]["id"]


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, f"{url}: {response.status} {await response.text()}"
        return await response.json()


async def look_around(running: Running) -> dict[str, Any]:
    """Everything the README promises of the running demo; what the admin sees."""
    base = running.base
    out = running.captured()
    roles = sorted(role for role, _, _ in running.logins)
    assert roles == ["admin", "agent", "agent"], f"demo logins: {running.logins}\n{out}"

    async with aiohttp.ClientSession() as http, http.get(running.inbox_url) as page:
        assert page.status == 200
        assert page.content_type == "text/html"
        assert "<html" in (await page.text()).lower()

    seen: dict[str, Any] = {}
    for role, email, password in running.logins:
        # unsafe=True: keep the session cookie of a bare IP address like 127.0.0.1.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            agent_id = await login(http, base, email, password)
            mine = await get_json(http, f"{base}/api/conversations")
            if role == "agent":
                assert mine, f"{email} has no demo conversation"
                assert all(agent_id in (c["assignee_id"], c["owner_id"]) for c in mine)
                continue
            seen = {
                "agents": await get_json(http, f"{base}/api/admin/agents"),
                "customers": await get_json(http, f"{base}/api/admin/customers"),
                "conversations": await get_json(http, f"{base}/api/conversations?scope=all"),
            }

    assert sorted(a["email"] for a in seen["agents"]) == sorted(e for _, e, _ in running.logins)
    assert len(seen["customers"]) >= 2
    conversations = seen["conversations"]
    assert len(conversations) >= 2
    assert {c["customer"]["id"] for c in conversations} <= {c["id"] for c in seen["customers"]}
    handlers = {c["assignee_id"] for c in conversations}
    agent_ids = {a["id"] for a in seen["agents"] if a["role"] == "agent"}
    assert handlers == agent_ids, "each demo agent should handle a demo conversation"
    return seen


def comparable(seen: dict[str, Any]) -> dict[str, Any]:
    """What must not change on a restart: who exists and which conversations."""
    return {
        "agents": sorted((a["id"], a["email"], a["role"]) for a in seen["agents"]),
        "customers": sorted((c["id"], c["name"]) for c in seen["customers"]),
        "conversations": sorted((c["id"], c["customer"]["id"]) for c in seen["conversations"]),
    }


async def test_hub_run_demo_in_an_empty_directory_and_again(tmp_path: Path) -> None:
    async with hub_run_demo(tmp_path) as first:
        seen_first = await look_around(first)
    database = tmp_path / "hub.db"  # README: "Data lives in hub.db in the current directory."
    assert await asyncio.to_thread(database.is_file), await asyncio.to_thread(os.listdir, tmp_path)

    async with hub_run_demo(tmp_path) as second:
        seen_second = await look_around(second)
    assert comparable(seen_second) == comparable(seen_first), "restart duplicated demo data"
