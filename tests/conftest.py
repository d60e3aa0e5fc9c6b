from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser as PlaywrightBrowser
from playwright.async_api import BrowserContext

from config import Settings
from hub.app import Hub
from tests.support.chromium import chromium
from tests.support.clock import FakeClock
from tests.support.databases import POSTGRES_URL, fresh_sqlite, migrate_url, truncate_postgres
from tests.support.hubs import Browser, started_hub
from tests.support.smtp import SmtpPeer

pytest_plugins = ["tests.support.dovecot"]

API_TOKEN = "sms-gateway-token-123"
ENVIRON = {
    "SMS_TOKEN": API_TOKEN,
    "SMS_CALLBACK_SECRET": "callback-secret",
    "METRICS_TOKEN": "metrics-token-456",
}


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """Migrate once per run: PostgreSQL itself, or a SQLite file that tests copy."""
    if POSTGRES_URL:
        asyncio.run(migrate_url(POSTGRES_URL))
        return None
    template = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(migrate_url(f"sqlite:///{template}"))
    return template


@pytest.fixture
async def database_url(migrated_template: Path | None, tmp_path: Path) -> str:
    if migrated_template is None:
        assert POSTGRES_URL
        await truncate_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return fresh_sqlite(migrated_template, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(database_url: str, **overrides: object) -> Settings:
    data: dict[str, object] = {
        "database": {"url": database_url},
        "channels": [
            {"kind": "webchat", "name": "webchat"},
            {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", "identity_kind": "phone"},
        ],
        **overrides,
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def hub(settings: Settings, clock: FakeClock) -> AsyncIterator[Hub]:
    async with started_hub(settings, clock) as hub:
        yield hub


@pytest.fixture
async def server(hub: Hub) -> AsyncIterator[TestServer]:
    server = TestServer(hub.web_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def browser_factory(
    server: TestServer,
) -> AsyncIterator[Callable[[], Awaitable[Browser]]]:
    sessions: list[aiohttp.ClientSession] = []

    async def make() -> Browser:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return Browser(server, session)

    try:
        yield make
    finally:
        for session in sessions:
            await session.close()


@pytest.fixture
async def chromium_browser() -> AsyncIterator[PlaywrightBrowser]:
    """A real headless Chromium; each test opens its own pages."""
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def context(chromium_browser: PlaywrightBrowser) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (cookies, storage) for one test; some tests set their own."""
    context = await chromium_browser.new_context()
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def relay() -> AsyncIterator[SmtpPeer]:
    """A real SMTP server on a free loopback port that keeps what it receives."""
    async with SmtpPeer() as peer:
        yield peer
