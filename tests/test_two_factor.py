"""Two-factor sign-in over the API: enrolment, TOTP and recovery codes, the team-wide rule."""

from __future__ import annotations

from typing import Any

import aiohttp
import pyotp
import pytest

from hub.app import Hub
from tests.support.clock import FakeClock
from tests.support.hubs import PASSWORD, Browser, add_agent

MARIA = "maria@example.com"
ADMIN = "admin@example.com"


@pytest.fixture
async def team(hub: Hub) -> dict[str, int]:
    return {
        "admin": await add_agent(hub, ADMIN, role="admin"),
        "maria": await add_agent(hub, MARIA),
    }


async def enrol(browser: Browser, clock: FakeClock) -> tuple[str, list[str]]:
    """Set up two-factor sign-in as the account page does; the secret and recovery codes."""
    offer = await browser.post("/api/me/two-factor/setup", expect=200)
    code = pyotp.TOTP(offer["secret"]).at(clock.now())
    confirmed = await browser.post(
        "/api/me/two-factor", {"enrolment": offer["enrolment"], "code": code}, expect=201
    )
    return offer["secret"], confirmed["recovery_codes"]


async def password_step(browser: Browser, email: str = MARIA) -> dict[str, Any]:
    async with browser.session.post(
        browser.url("/api/login"), json={"email": email, "password": PASSWORD}
    ) as response:
        assert response.status == 200
        assert "Set-Cookie" not in response.headers
        return await response.json()


async def code_step(browser: Browser, challenge: str, code: str) -> tuple[int, Any]:
    status, body = await browser.call(
        "POST", "/api/login/two-factor", json={"challenge": challenge, "code": code}
    )
    if status == 200:
        browser.csrf = body["csrf_token"]
    return status, body


@pytest.fixture
async def enrolled(team, browser_factory, clock: FakeClock) -> tuple[str, list[str]]:
    """Maria with two-factor sign-in on (signed out again)."""
    maria = await (await browser_factory()).login(MARIA)
    enrolment = await enrol(maria, clock)
    await maria.post("/api/logout", expect=204)
    clock.advance(seconds=30)  # the next sign-in's code is a fresh one
    return enrolment


async def test_enrolment_offers_a_qr_code_and_takes_a_first_code(
    team, browser_factory, clock: FakeClock
):
    maria = await (await browser_factory()).login(MARIA)
    offer = await maria.post("/api/me/two-factor/setup", expect=200)
    assert offer["qr_svg"].startswith("data:image/svg+xml")
    assert offer["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={offer['secret']}" in offer["otpauth_uri"]

    status, body = await maria.call(
        "POST", "/api/me/two-factor", json={"enrolment": offer["enrolment"], "code": "000000"}
    )
    assert status == 422
    assert "does not match" in body["error"]
    assert (await maria.get("/api/me"))["two_factor"] is False

    code = pyotp.TOTP(offer["secret"]).at(clock.now())
    confirmed = await maria.post(
        "/api/me/two-factor", {"enrolment": offer["enrolment"], "code": code}, expect=201
    )
    codes = confirmed["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert (await maria.get("/api/me"))["two_factor"] is True
    status, _ = await maria.call("POST", "/api/me/two-factor/setup")
    assert status == 409


async def test_an_enrolment_token_works_for_its_agent_only_and_not_for_long(
    team, browser_factory, clock: FakeClock
):
    maria = await (await browser_factory()).login(MARIA)
    admin = await (await browser_factory()).login(ADMIN)
    offer = await maria.post("/api/me/two-factor/setup", expect=200)
    code = pyotp.TOTP(offer["secret"]).at(clock.now())
    body = {"enrolment": offer["enrolment"], "code": code}
    status, _ = await admin.call("POST", "/api/me/two-factor", json=body)
    assert status == 422
    clock.advance(minutes=16)
    body["code"] = pyotp.TOTP(offer["secret"]).at(clock.now())
    status, refused = await maria.call("POST", "/api/me/two-factor", json=body)
    assert status == 422
    assert "expired" in refused["error"]


async def test_with_two_factor_a_password_alone_gives_no_session(
    hub, enrolled, browser_factory, clock: FakeClock
):
    secret, _ = enrolled
    browser = await browser_factory()
    challenge = await password_step(browser)
    assert challenge["two_factor"] == "required"
    assert (await browser.call("GET", "/api/me"))[0] == 401

    status, body = await code_step(browser, challenge["challenge"], "123456")
    assert status == 401
    assert "wrong code" in body["error"]
    status, body = await code_step(
        browser, challenge["challenge"], pyotp.TOTP(secret).at(clock.now())
    )
    assert status == 200
    assert body["agent"]["email"] == MARIA
    assert (await browser.get("/api/me"))["email"] == MARIA

    admin = await (await browser_factory()).login(ADMIN)
    admins, marias, wrong = (await admin.get("/api/admin/audit?subject_type=signin"))[:3]
    assert (admins["action"], admins["details"]["method"]) == ("signin.succeeded", "password")
    assert (marias["action"], marias["details"]["method"]) == ("signin.succeeded", "totp")
    assert (wrong["action"], wrong["details"]["reason"]) == (
        "signin.failed",
        "wrong two-factor code",
    )


async def test_a_code_works_once(enrolled, browser_factory, clock: FakeClock):
    secret, _ = enrolled
    code = pyotp.TOTP(secret).at(clock.now())
    first = await browser_factory()
    assert (await code_step(first, (await password_step(first))["challenge"], code))[0] == 200
    second = await browser_factory()
    status, _ = await code_step(second, (await password_step(second))["challenge"], code)
    assert status == 401
    clock.advance(seconds=30)
    fresh = pyotp.TOTP(secret).at(clock.now())
    assert (await code_step(second, (await password_step(second))["challenge"], fresh))[0] == 200


async def test_a_recovery_code_works_once_in_any_case(enrolled, browser_factory):
    _, codes = enrolled
    first = await browser_factory()
    challenge = (await password_step(first))["challenge"]
    assert (await code_step(first, challenge, f" {codes[3].upper()} "))[0] == 200
    second = await browser_factory()
    challenge = (await password_step(second))["challenge"]
    assert (await code_step(second, challenge, codes[3]))[0] == 401
    assert (await code_step(second, challenge, codes[4].replace("-", "")))[0] == 200


async def test_a_challenge_expires_and_dies_with_a_password_change(
    team, enrolled, browser_factory, clock: FakeClock
):
    secret, _ = enrolled
    browser = await browser_factory()
    old = (await password_step(browser))["challenge"]
    clock.advance(minutes=6)
    status, body = await code_step(browser, old, pyotp.TOTP(secret).at(clock.now()))
    assert status == 401
    assert "expired" in body["error"]
    assert body["sign_in"] == "password"

    pending = (await password_step(browser))["challenge"]
    admin = await (await browser_factory()).login(ADMIN)
    await admin.patch(f"/api/admin/agents/{team['maria']}", {"password": "x" * 12}, expect=200)
    clock.advance(seconds=30)
    status, body = await code_step(browser, pending, pyotp.TOTP(secret).at(clock.now()))
    assert status == 401
    assert body["sign_in"] == "password"


async def test_wrong_codes_count_against_the_sign_in_limits(hub, enrolled, browser_factory):
    browser = await browser_factory()
    challenge = (await password_step(browser))["challenge"]
    for _ in range(hub.settings.auth.client_failures_per_minute):
        assert (await code_step(browser, challenge, "000000"))[0] == 401
    status, body = await code_step(browser, challenge, "000000")
    assert status == 429
    assert "too many failed sign-ins" in body["error"]


async def test_scripts_get_a_token_with_a_code_too(server, enrolled, clock: FakeClock):
    secret, _ = enrolled
    credentials = {"email": MARIA, "password": PASSWORD}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url("/api/tokens"), json=credentials) as response:
            assert response.status == 200
            challenge = (await response.json())["challenge"]
        code = pyotp.TOTP(secret).at(clock.now())
        async with http.post(
            server.make_url("/api/tokens/two-factor"), json={"challenge": challenge, "code": code}
        ) as response:
            assert response.status == 201
            token = (await response.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(server.make_url("/api/me"), headers=headers) as response:
            assert (await response.json())["email"] == MARIA


async def test_turning_it_off_takes_a_code(enrolled, browser_factory, clock: FakeClock):
    secret, codes = enrolled
    browser = await browser_factory()
    await code_step(browser, (await password_step(browser))["challenge"], codes[0])
    status, _ = await browser.call("POST", "/api/me/two-factor/off", json={"code": "111111"})
    assert status == 401
    code = pyotp.TOTP(secret).at(clock.now())
    await browser.post("/api/me/two-factor/off", {"code": code}, expect=204)
    assert (await browser.get("/api/me"))["two_factor"] is False
    await (await browser_factory()).login(MARIA)


async def test_an_admin_turns_off_an_agents_lost_two_factor(team, enrolled, browser_factory):
    admin = await (await browser_factory()).login(ADMIN)
    await admin.call("DELETE", f"/api/admin/agents/{team['maria']}/two-factor", expect=204)
    await (await browser_factory()).login(MARIA)
    entries = await admin.get(f"/api/admin/audit?subject_type=agent&subject_id={team['maria']}")
    assert entries[0]["action"] == "two_factor.disabled"
    assert entries[0]["actor_id"] == team["admin"]
    await admin.call("DELETE", f"/api/admin/agents/{team['maria']}/two-factor", expect=404)


async def test_required_for_everyone_sends_agents_to_enrol_first(
    team, browser_factory, clock: FakeClock
):
    admin = await (await browser_factory()).login(ADMIN)
    status, body = await admin.call("PATCH", "/api/admin/security", {"require_two_factor": True})
    assert status == 409
    assert "your own two-factor" in body["error"]
    await enrol(admin, clock)
    settings = await admin.patch("/api/admin/security", {"require_two_factor": True}, expect=200)
    assert settings["require_two_factor"] is True
    [entry] = [e for e in await admin.get("/api/admin/audit") if e["action"] == "two_factor.policy"]
    assert entry["details"] == {"required": True}

    maria = await (await browser_factory()).login(MARIA)
    assert maria.agent["must_enrol_two_factor"] is True
    status, body = await maria.call("GET", "/api/conversations")
    assert status == 403
    assert body["two_factor"] == "enrol"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await maria.session.ws_connect(maria.url("/api/events"))
    assert refused.value.status == 403
    assert (await maria.get("/api/me"))["must_enrol_two_factor"] is True
    status, _ = await maria.call("POST", "/api/me/two-factor/off", json={"code": "123456"})
    assert status == 403

    clock.advance(seconds=30)
    await enrol(maria, clock)
    assert (await maria.call("GET", "/api/conversations"))[0] == 200
    status, body = await maria.call("POST", "/api/me/two-factor/off", json={"code": "123456"})
    assert status == 409
    assert "required for everyone" in body["error"]
