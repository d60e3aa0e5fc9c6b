"""Limits on failed sign-ins: per client (through trusted proxies) and per account, in the
database (shared by hub processes, pruned), on the hub's clock; argon2 off the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from config import Settings
from hub.app import Hub
from hub.auth import hash_password, password_matches
from hub.clients import client_key
from hub.db.schema import signin_attempts
from hub.errors import TooManyRequests
from hub.passwords import PasswordWork
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.databases import POSTGRES_URL
from tests.support.hubs import PASSWORD, add_agent
from tests.test_admin_api import running

MARIA = "maria@example.com"
TOM = "tom@example.com"
STRANGER = "203.0.113.66"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The hub behind a reverse proxy on loopback (as the shipped Caddy deploy is), with
    low limits: every attempt costs an argon2 check."""
    return make_settings(
        database_url,
        http={"trusted_proxies": ["127.0.0.1/32", "::1"]},
        auth={"client_failures_per_minute": 4, "account_failures": 5},
    )


@pytest.fixture
async def team(hub: Hub) -> None:
    await add_agent(hub, MARIA)
    await add_agent(hub, TOM)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def sign_in(
    http: aiohttp.ClientSession,
    server: TestServer,
    email: str,
    password: str,
    client: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """A sign-in as the proxy passes it on: the client's address in X-Forwarded-For."""
    headers = {"X-Forwarded-For": client} if client else {}
    async with http.post(
        server.make_url("/api/login"), json={"email": email, "password": password}, headers=headers
    ) as response:
        return response.status, await response.json()


async def fail_times(
    http: aiohttp.ClientSession, server: TestServer, times: int, email: str, client: str | None
) -> None:
    for _ in range(times):
        status, _ = await sign_in(http, server, email, "a wrong guess", client)
        assert status == 401


async def stored_attempts(hub: Hub) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(signin_attempts)).scalar_one()
    )


async def test_a_stranger_behind_the_proxy_cannot_lock_out_the_team(hub, server, team, http):
    limit = hub.settings.auth.client_failures_per_minute
    await fail_times(http, server, limit // 2, MARIA, STRANGER)
    await fail_times(http, server, limit - limit // 2, TOM, STRANGER)

    status, body = await sign_in(http, server, MARIA, PASSWORD, STRANGER)
    assert status == 429
    assert "from this address" in body["error"]
    assert 0 < body["retry_after"] <= 60
    assert (await sign_in(http, server, MARIA, PASSWORD, "198.51.100.7"))[0] == 200
    assert (await sign_in(http, server, TOM, PASSWORD, "198.51.100.8"))[0] == 200


async def test_successful_sign_ins_are_not_counted(hub, server, team, http):
    for _ in range(hub.settings.auth.client_failures_per_minute + 1):
        status, _ = await sign_in(http, server, MARIA, PASSWORD, "198.51.100.7")
        assert status == 200
    assert await stored_attempts(hub) == 0


async def test_the_client_limit_lifts_a_minute_later_on_the_hub_clock(
    hub, server, team, http, clock: FakeClock
):
    await fail_times(http, server, hub.settings.auth.client_failures_per_minute, TOM, STRANGER)
    assert (await sign_in(http, server, TOM, "again", STRANGER))[0] == 429
    clock.advance(seconds=59)
    assert (await sign_in(http, server, TOM, "again", STRANGER))[0] == 429
    clock.advance(seconds=2)
    assert (await sign_in(http, server, TOM, "again", STRANGER))[0] == 401


async def test_one_account_guessed_from_many_addresses_is_slowed_down_not_locked(
    hub, server, team, http, clock: FakeClock
):
    auth = hub.settings.auth
    for n in range(auth.account_failures):
        status, _ = await sign_in(http, server, MARIA, "guess", f"203.0.113.{n + 1}")
        assert status == 401

    status, body = await sign_in(http, server, MARIA, "guess", "203.0.113.200")
    assert status == 429
    assert "for this account" in body["error"]
    assert body["retry_after"] == auth.account_delay_seconds
    # The trade-off: the owner waits too, but only the delay, not an hour.
    assert (await sign_in(http, server, MARIA, PASSWORD, "198.51.100.7"))[0] == 429
    assert (await sign_in(http, server, TOM, PASSWORD, "198.51.100.8"))[0] == 200

    clock.advance(seconds=auth.account_delay_seconds)
    assert (await sign_in(http, server, MARIA, PASSWORD, "198.51.100.7"))[0] == 200
    # Signing in cleared the account's failures: a typo now is just a typo.
    assert (await sign_in(http, server, MARIA, "typo", "198.51.100.7"))[0] == 401
    assert (await sign_in(http, server, MARIA, PASSWORD, "198.51.100.7"))[0] == 200


@pytest.fixture
async def unproxied(database_url: str, clock: FakeClock) -> AsyncIterator[tuple[Hub, TestServer]]:
    """A hub that trusts no proxy, and its server."""
    async with running(make_settings(database_url), clock) as hub_and_server:
        yield hub_and_server


async def test_x_forwarded_for_from_an_untrusted_peer_changes_nothing(unproxied, http):
    hub, server = unproxied
    await add_agent(hub, MARIA)
    for n in range(hub.settings.auth.client_failures_per_minute):
        assert (await sign_in(http, server, MARIA, "guess", f"198.51.100.{n}"))[0] == 401
    status, body = await sign_in(http, server, MARIA, PASSWORD, "198.51.100.99")
    assert status == 429
    assert "from this address" in body["error"]


async def test_parallel_guesses_cannot_slip_past_the_limit_together(hub, server, team, http):
    limit = hub.settings.auth.client_failures_per_minute
    outcomes = await asyncio.gather(
        *(sign_in(http, server, TOM, f"guess {n}", STRANGER) for n in range(limit * 2))
    )
    statuses = sorted(status for status, _ in outcomes)
    assert statuses == [401] * limit + [429] * limit


async def test_attempts_are_forgotten_once_older_than_the_longest_window(
    hub, server, team, http, clock: FakeClock
):
    await fail_times(http, server, 3, MARIA, STRANGER)
    await fail_times(http, server, 3, TOM, "198.51.100.1")
    assert await stored_attempts(hub) == 6
    clock.advance(minutes=hub.settings.auth.account_window_minutes + 1)
    await fail_times(http, server, 1, TOM, "198.51.100.1")
    assert await stored_attempts(hub) == 1


def test_ipv6_clients_count_by_their_64_network():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"


@pytest.mark.skipif(not POSTGRES_URL, reason="two hubs on one database need PostgreSQL")
async def test_hub_processes_share_the_limits(hub, server, team, http, settings):
    async with running(settings, FakeClock()) as (_, other_server):
        limit = hub.settings.auth.client_failures_per_minute
        await fail_times(http, server, limit // 2, MARIA, STRANGER)
        await fail_times(http, other_server, limit - limit // 2, MARIA, STRANGER)
        assert (await sign_in(http, server, TOM, "guess", STRANGER))[0] == 429
        assert (await sign_in(http, other_server, TOM, "guess", STRANGER))[0] == 429


def one_check_seconds(password_hash: str) -> float:
    """How long one argon2 check takes on this machine now (the fastest of three)."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        password_matches(password_hash, "not it")
        timings.append(time.perf_counter() - started)
    return min(timings)


async def test_password_checks_do_not_stall_other_requests(hub, server, team, browser_factory):
    """Eight wrong passwords in flight; another agent's requests are answered meanwhile.

    The bound is relative to one argon2 check timed here: on the loop (or on the
    database's reader threads) eight checks hold other requests for several.
    """
    check = one_check_seconds(hash_password(PASSWORD))
    tom = await (await browser_factory()).login(TOM)
    async with aiohttp.ClientSession() as http:
        guesses = [
            asyncio.create_task(sign_in(http, server, f"{n}@example.com", "guess", f"192.0.2.{n}"))
            for n in range(8)
        ]
        latencies = []
        while not all(guess.done() for guess in guesses):
            started = time.perf_counter()
            await tom.get("/api/me")
            if not all(guess.done() for guess in guesses):
                latencies.append(time.perf_counter() - started)
        outcomes = await asyncio.gather(*guesses)
    assert [status for status, _ in outcomes] == [401] * 8
    assert len(latencies) >= 3, "the other requests ran while the guesses were checked"
    assert max(latencies) < 2 * check, (latencies, check)


async def test_password_checks_queue_up_to_a_bound_then_the_hub_says_it_is_busy():
    work = PasswordWork(workers=1, max_waiting=1)
    password_hash = hash_password(PASSWORD)
    try:
        checks = [asyncio.create_task(work.matches(password_hash, PASSWORD)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(TooManyRequests, match="busy checking passwords"):
            work.check_capacity()
        with pytest.raises(TooManyRequests):
            await work.hash("another password")
        assert await asyncio.gather(*checks) == [True, True]
        work.check_capacity()
    finally:
        work.close()
