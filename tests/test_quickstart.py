"""README command (a): ``hub run --demo`` in an empty directory, as a newcomer runs it.

The real console entry runs as a subprocess on its embedded defaults (a SQLite
file in the working directory), whatever database the rest of the suite uses.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.processes import hub_process

INBOX_LINE = re.compile(r"^Inbox:\s+(http://\S+)$", re.MULTILINE)
ADMIN_LINE = re.compile(r"^Admin console \(admins\): (http://\S+)$", re.MULTILINE)
LOGIN_LINE = re.compile(r"^\s+(admin|agent)\s+(\S+@\S+)\s+password:\s+(\S+)$", re.MULTILINE)


@dataclass
class Running:
    inbox_url: str
    logins: list[tuple[str, str, str]]
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.inbox_url.rstrip("/")

    def captured(self) -> str:
        return "".join(self.output)


@asynccontextmanager
async def hub_run_demo(workdir: Path) -> AsyncIterator[Running]:
    """``hub run --demo`` in ``workdir``; stopped with SIGINT, which must exit 0."""
    async with hub_process(workdir, "--demo") as hub:
        text = hub.captured()
        inbox = INBOX_LINE.search(text)
        assert inbox, f"no inbox URL printed:\n{text}"
        assert inbox.group(1).startswith(hub.base), text
        logins = LOGIN_LINE.findall(text)
        yield Running(inbox.group(1), logins, hub.output)


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
            [console_url] = ADMIN_LINE.findall(out)
            async with http.get(console_url, allow_redirects=False) as console:
                assert (console.status, console.content_type) == (200, "text/html"), out
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
        assert second.logins == [], "a second --demo set no password, so it prints none"
        assert "Demo data: not added, this database already has accounts." in second.captured()
        assert any("demo passwords" in line for line in second.output), second.captured()
        second.logins = first.logins
        seen_second = await look_around(second)
    assert comparable(seen_second) == comparable(seen_first), "restart duplicated demo data"

    async with hub_process(tmp_path) as without_demo:
        [warning] = [line for line in without_demo.output if "demo passwords" in line]
    assert "WARNING" in warning
    for email in ("admin@example.com", "maria@example.com", "tom@example.com"):
        assert email in warning
