from __future__ import annotations

import json
import re

import aiohttp
import pytest

from hub.app import Hub
from tests.support.hubs import PASSWORD, Browser, add_agent


@pytest.fixture
async def team(hub: Hub) -> dict[str, int]:
    return {
        "admin": await add_agent(hub, "admin@example.com", role="admin"),
        "maria": await add_agent(hub, "maria@example.com"),
    }


async def test_login_sets_httponly_strict_cookie_and_returns_csrf(browser_factory, team):
    browser = await browser_factory()
    async with browser.session.post(
        browser.url("/api/login"), json={"email": "maria@example.com", "password": PASSWORD}
    ) as response:
        assert response.status == 200
        cookie = response.headers["Set-Cookie"]
        body = await response.json()
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert body["agent"]["email"] == "maria@example.com"
    assert "password_hash" not in body["agent"]
    assert len(body["csrf_token"]) > 20


async def test_wrong_password_gets_401(browser_factory, team):
    browser = await browser_factory()
    status, body = await browser.call(
        "POST", "/api/login", json={"email": "maria@example.com", "password": "nope-nope"}
    )
    assert status == 401
    assert "wrong email or password" in body["error"]


async def test_unknown_email_gets_the_same_401(browser_factory, team):
    browser = await browser_factory()
    status, body = await browser.call(
        "POST", "/api/login", json={"email": "who@example.com", "password": PASSWORD}
    )
    assert status == 401
    assert "wrong email or password" in body["error"]


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/conversations", "GET"), ("/api/me", "GET"), ("/api/admin/agents", "GET")],
)
async def test_no_session_gets_401(browser_factory, team, path, method):
    browser = await browser_factory()
    status, body = await browser.call(method, path)
    assert status == 401
    assert "sign in" in body["error"]


async def test_forged_cookie_and_bad_bearer_get_401(browser_factory, team):
    browser = await browser_factory()
    async with browser.session.get(
        browser.url("/api/me"), cookies={"hub_session": "forged-session-token"}
    ) as response:
        assert response.status == 401
    async with browser.session.get(
        browser.url("/api/me"), headers={"Authorization": "Bearer not-a-token"}
    ) as response:
        assert response.status == 401


async def test_agent_gets_403_on_every_admin_endpoint(hub, browser_factory, team):
    from hub.api.routes import api

    browser = await (await browser_factory()).login("maria@example.com")
    admin_endpoints = [e for e in api.endpoints if e.path.startswith("/api/admin/")]
    assert len(admin_endpoints) >= 10
    for endpoint in admin_endpoints:
        path = endpoint.path.replace("{agent_id:\\d+}", str(team["admin"]))
        path = re.sub(r"\{\w+:\\d\+\}", "1", path).replace("{name}", "webchat")
        status, body = await browser.call(endpoint.method, path, json={})
        assert status == 403, (endpoint.method, path, status, body)
        assert body["error"] == "this endpoint is for admins"


async def test_cookie_session_needs_csrf_header_for_changes(browser_factory, team):
    browser = await (await browser_factory()).login("maria@example.com")
    browser.csrf = None
    status, body = await browser.call("PATCH", "/api/me/status", json={"away": True})
    assert status == 403
    assert "X-CSRF-Token" in body["error"]
    browser.csrf = "wrong"
    status, _ = await browser.call("PATCH", "/api/me/status", json={"away": True})
    assert status == 403


async def test_bearer_token_for_scripts_needs_no_csrf(server, team):
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.make_url("/api/tokens"),
            json={"email": "maria@example.com", "password": PASSWORD},
        ) as response:
            assert response.status == 201
            assert "Set-Cookie" not in response.headers
            token = (await response.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with session.patch(
            server.make_url("/api/me/status"), json={"away": True}, headers=headers
        ) as response:
            assert response.status == 200
            assert (await response.json())["away"] is True


async def test_logout_ends_the_session(browser_factory, team):
    browser = await (await browser_factory()).login("maria@example.com")
    await browser.post("/api/logout", expect=204)
    status, _ = await browser.call("GET", "/api/me")
    assert status == 401


async def test_deactivated_agent_loses_session_and_cannot_sign_in(browser_factory, team):
    admin = await (await browser_factory()).login("admin@example.com")
    maria = await (await browser_factory()).login("maria@example.com")
    await admin.patch(f"/api/admin/agents/{team['maria']}", {"active": False}, expect=200)
    status, _ = await maria.call("GET", "/api/me")
    assert status == 401
    status, _ = await (await browser_factory()).call(
        "POST", "/api/login", json={"email": "maria@example.com", "password": PASSWORD}
    )
    assert status == 401


async def test_session_expires(hub, clock, browser_factory, team):
    browser = await (await browser_factory()).login("maria@example.com")
    clock.advance(hours=hub.settings.auth.session_hours + 0.1)
    status, _ = await browser.call("GET", "/api/me")
    assert status == 401


@pytest.mark.parametrize("path", ["/api/login", "/api/tokens"])
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_sign_in_takes_json_only(server, team, path, content_type):
    """A cross-site form can post these types without a preflight (login CSRF)."""
    body = json.dumps({"email": "maria@example.com", "password": PASSWORD})
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.make_url(path), data=body, headers={"Content-Type": content_type}
        ) as response,
    ):
        assert response.status == 415
        assert "Set-Cookie" not in response.headers
        assert "application/json" in (await response.json())["error"]


@pytest.mark.parametrize("path", ["/api/login", "/api/tokens"])
async def test_sign_in_from_a_foreign_origin_is_refused(server, team, path):
    credentials = {"email": "maria@example.com", "password": PASSWORD}
    async with aiohttp.ClientSession() as session:
        for origin in ("https://evil.example", "null", f"http://{server.host}:1"):
            async with session.post(
                server.make_url(path), json=credentials, headers={"Origin": origin}
            ) as response:
                assert response.status == 403, origin
                assert "Set-Cookie" not in response.headers
                assert "another site" in (await response.json())["error"]
        own = f"http://{server.host}:{server.port}"
        async with session.post(
            server.make_url(path), json=credentials, headers={"Origin": own}
        ) as response:
            assert response.status in (200, 201)


async def audit_of_sign_ins(admin: Browser) -> list[dict]:
    return await admin.get("/api/admin/audit?subject_type=signin")


async def test_sign_ins_are_audited_with_who_when_and_where_never_the_password(
    hub, browser_factory, team
):
    admin = await (await browser_factory()).login("admin@example.com")
    stranger = await browser_factory()
    await stranger.call(
        "POST", "/api/login", json={"email": "Maria@Example.com ", "password": "hunter2-guess"}
    )
    await stranger.call("POST", "/api/login", json={"email": "nobody@x.org", "password": "pw-9"})
    await (await browser_factory()).login("maria@example.com")

    entries = await audit_of_sign_ins(admin)
    maria_ok, unknown, wrong, admin_ok = entries
    assert [e["action"] for e in entries] == [
        "signin.succeeded",
        "signin.failed",
        "signin.failed",
        "signin.succeeded",
    ]
    assert wrong["details"] == {
        "email": "maria@example.com",
        "client": "127.0.0.1",
        "agent_id": team["maria"],
        "reason": "wrong password",
    }
    assert wrong["actor_id"] is None
    assert unknown["details"]["reason"] == "unknown email"
    assert unknown["details"]["agent_id"] is None
    assert maria_ok["actor_id"] == team["maria"]
    assert maria_ok["details"]["method"] == "password"
    assert maria_ok["details"]["client"] == "127.0.0.1"
    assert admin_ok["actor_id"] == team["admin"]
    assert all(e["at"] == hub.clock.now().isoformat() for e in entries)
    logged = json.dumps(entries)
    for secret in ("hunter2-guess", "pw-9", PASSWORD):
        assert secret not in logged


async def test_the_last_active_admin_cannot_be_demoted_or_deactivated(hub, browser_factory, team):
    admin = await (await browser_factory()).login("admin@example.com")
    me = f"/api/admin/agents/{team['admin']}"
    for change in ({"role": "agent"}, {"active": False}):
        status, body = await admin.call("PATCH", me, json=change)
        assert status == 409, change
        assert "last active admin" in body["error"]
    assert (await admin.get("/api/me"))["role"] == "admin"

    await admin.patch(f"/api/admin/agents/{team['maria']}", {"role": "admin"}, expect=200)
    await admin.patch(me, {"role": "agent"}, expect=200)
    maria = await (await browser_factory()).login("maria@example.com")
    status, body = await maria.call(
        "PATCH", f"/api/admin/agents/{team['maria']}", json={"active": False}
    )
    assert status == 409
    assert "last active admin" in body["error"]
