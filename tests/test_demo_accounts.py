"""A database once seeded with ``--demo``: its published passwords are named and, on a
public hub, refused."""

from __future__ import annotations

import pytest

from config import Settings
from hub.app import Hub
from hub.demo import DEMO_LOGINS, seed_demo
from hub.demo_accounts import is_loopback_url
from tests.conftest import make_settings
from tests.support.hubs import PASSWORD, add_agent

DEMO_EMAILS = sorted(email for email, _, _ in DEMO_LOGINS)


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    """A hub people reach under a public name (plain http, so the test's cookies work),
    unless the test names another public URL."""
    public_url = getattr(request, "param", "http://support.example.com")
    return make_settings(database_url, http={"public_url": public_url})


async def test_demo_passwords_are_refused_on_a_public_hub_until_changed(hub: Hub, browser_factory):
    assert await seed_demo(hub)
    await add_agent(hub, "boss@example.com", role="admin")
    boss = await (await browser_factory()).login("boss@example.com")
    assert sorted((await boss.get("/api/admin/security"))["demo_passwords"]) == DEMO_EMAILS

    status, body = await (await browser_factory()).call(
        "POST", "/api/login", {"email": "admin@example.com", "password": "admin-demo"}
    )
    assert status == 403
    assert "demo password" in body["error"]
    [entry] = await boss.get("/api/admin/audit?subject_type=signin&limit=1")
    assert entry["details"]["reason"] == "demo password on a public hub"

    maria = next(a for a in await boss.get("/api/admin/agents") if a["email"].startswith("maria"))
    await boss.patch(f"/api/admin/agents/{maria['id']}", {"password": PASSWORD}, expect=200)
    assert sorted((await boss.get("/api/admin/security"))["demo_passwords"]) == [
        "admin@example.com",
        "tom@example.com",
    ]
    await (await browser_factory()).login("maria@example.com")


@pytest.mark.parametrize("settings", ["http://localhost:8080"], indirect=True)
async def test_demo_passwords_work_on_a_hub_only_this_machine_reaches(hub: Hub, browser_factory):
    assert await seed_demo(hub)
    admin = await (await browser_factory()).login("admin@example.com", "admin-demo")
    assert sorted((await admin.get("/api/admin/security"))["demo_passwords"]) == DEMO_EMAILS


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:8080", True),
        ("http://[::1]:8080", True),
        ("http://127.8.9.1", True),
        ("http://0.0.0.0:8080", False),
        ("https://support.example.com", False),
        ("http://192.168.1.10:8080", False),
        ("http://localhost.example.com", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool):
    assert is_loopback_url(url) is loopback
