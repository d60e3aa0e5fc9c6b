"""Running a real hub on a loopback port and talking to it like a browser or a script."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from config import Settings
from connectors.dns import Resolver
from hub.app import Hub
from hub.auth import Principal, hash_password
from hub.clock import Clock
from hub.conversations import post_reply
from hub.team import create_agent

PASSWORD = "correct horse battery"
_HASH = hash_password(PASSWORD)


@asynccontextmanager
async def started_hub(
    settings: Settings, clock: Clock, *, run_workers: bool = False, resolver: Resolver | None = None
) -> AsyncIterator[Hub]:
    """A hub in the test's process; without workers, the test runs the outbox and releases."""
    hub = Hub(settings, clock, resolver)
    try:
        await hub.start(run_workers=run_workers)
        yield hub
    finally:
        await hub.stop()


async def add_agent(hub: Hub, email: str, role: str = "agent", name: str | None = None) -> int:
    agent = await hub.db.write(
        partial(create_agent, None, email, name or email.split("@")[0].title(), _HASH, role)
    )
    return agent["id"]


@dataclass
class Browser:
    """An aiohttp session with its own cookie jar, signed in as one agent."""

    server: TestServer
    session: aiohttp.ClientSession
    csrf: str | None = None
    agent: dict[str, Any] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def login(self, email: str, password: str = PASSWORD) -> Browser:
        async with self.session.post(
            self.url("/api/login"), json={"email": email, "password": password}
        ) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        self.csrf = body["csrf_token"]
        self.agent = body["agent"]
        return self

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf} if self.csrf else {}

    async def call(
        self, method: str, path: str, json: Any = None, expect: int | None = None
    ) -> tuple[int, Any]:
        async with self.session.request(
            method, self.url(path), json=json, headers=self.headers()
        ) as response:
            body = await response.json() if response.content_type == "application/json" else None
            if expect is not None:
                assert response.status == expect, (response.status, body)
            return response.status, body

    async def get(self, path: str, expect: int | None = 200) -> Any:
        return (await self.call("GET", path, expect=expect))[1]

    async def post(self, path: str, json: Any = None, expect: int | None = None) -> Any:
        return (await self.call("POST", path, json=json, expect=expect))[1]

    async def patch(self, path: str, json: Any, expect: int | None = None) -> Any:
        return (await self.call("PATCH", path, json=json, expect=expect))[1]


async def queue_reply(hub: Hub, agent_id: int, conversation_id: int, text: str) -> int:
    """What an agent's reply does: the message and its outbox row stored; the message id."""
    agent = Principal(agent_id, "Agent", "agent", "", False)
    message = await hub.db.write(
        partial(post_reply, agent, conversation_id, text, None, hub.channels_by_kind)
    )
    return message["id"]


async def signed_in_team(hub: Hub, browser_factory: Any) -> dict[str, Browser]:
    """Ada, an admin who is away (so customers go to the agents), and the agents Maria and
    Tom, each signed in, by first name in lower case: ``admin``, ``maria``, ``tom``."""
    for email, role, name in (
        ("admin@example.com", "admin", "Ada"),
        ("maria@example.com", "agent", "Maria"),
        ("tom@example.com", "agent", "Tom"),
    ):
        await add_agent(hub, email, role=role, name=name)
    browsers = {
        who: await (await browser_factory()).login(f"{who}@example.com")
        for who in ("admin", "maria", "tom")
    }
    await browsers["admin"].patch("/api/me/status", {"away": True}, expect=200)
    return browsers
