"""The inbox's views over HTTP: previews and held counts, search, Overdue, Scheduled, the
customer panel, canned responses, and HTML bodies served for a sandboxed frame."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.base import Address, InboundMessage
from hub.app import Hub
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, signed_in_team
from tests.support.messages import chat

MONDAY_0900_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SATURDAYS_ONLY = {"zone": "Europe/London", "weekly": {"sat": ["10:00-12:00"]}}
NEW_YORK_OFFICE = {
    "zone": "America/New_York",
    "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}


@pytest.fixture
async def people(hub: Hub, browser_factory) -> dict[str, Browser]:
    return await signed_in_team(hub, browser_factory)


async def give(people: dict[str, Browser], customer_id: int, owner: str, backup: str | None):
    """Make the customer ``owner``'s, with ``backup`` covering."""
    body = {"owner_id": people[owner].agent["id"]}
    if backup:
        body["backup_id"] = people[backup].agent["id"]
    await people["admin"].patch(f"/api/admin/customers/{customer_id}", body, expect=200)


async def test_list_has_last_message_preview_and_held_count(hub: Hub, people):
    admin = people["admin"]
    first = await hub.ingest(chat("v1", "1", "hello", sender_name="Lena"))
    await give(people, first.customer_id, "maria", "tom")
    path = f"/api/conversations/{first.conversation_id}"
    await people["maria"].post(path + "/notes", {"text": "internal only"}, expect=201)
    await people["maria"].post(path + "/replies", {"text": "Hi Lena! " + "x" * 300}, expect=202)
    (item,) = await people["maria"].get("/api/conversations")
    preview = item["last_message"]
    assert (preview["direction"], preview["channel"], preview["state"]) == (
        "out",
        "webchat",
        "queued",
    )
    assert preview["text"] == ("Hi Lena! " + "x" * 300)[:160], "notes are skipped, text cut"
    assert preview["author_id"] == people["maria"].agent["id"]
    assert item["held_count"] == 0

    await admin.call("PUT", "/api/admin/hours", {"hours": SATURDAYS_ONLY}, expect=200)
    await hub.ingest(chat("v1", "2", "one more question"))
    await hub.ingest(chat("v1", "3", "and another"))
    (item,) = await people["maria"].get("/api/conversations")
    assert item["held_count"] == 2
    assert item["last_message"]["text"] == "and another"
    assert item["unread_count"] == 0, "held messages are not unread yet"
    assert await people["tom"].get("/api/conversations") == []


async def test_search_by_name_address_or_text_within_my_conversations(hub: Hub, people):
    lena = await hub.ingest(chat("v1", "1", "Where is parcel 50%_off?", sender_name="Lena Fischer"))
    omar = await hub.ingest(
        InboundMessage(
            channel="sms",
            external_id="s1",
            sender=Address("phone", "+4915100777"),
            text="Do you sell gift cards?",
            sender_name="Omar",
        )
    )
    other = await hub.ingest(chat("v3", "3", "parcel for Tom's customer", sender_name="Ida"))
    await give(people, lena.customer_id, "maria", None)
    await give(people, omar.customer_id, "maria", None)
    await give(people, other.customer_id, "tom", None)
    await people["maria"].post(f"/api/conversations/{lena.conversation_id}/resolve", expect=200)
    maria = people["maria"]

    async def found(q: str) -> list[int]:
        return [c["id"] for c in await maria.get(f"/api/conversations?q={q}")]

    assert await found("fischer") == [lena.conversation_id], "resolved ones are found too"
    assert await found("15100777") == [omar.conversation_id]
    assert await found("GIFT") == [omar.conversation_id]
    assert await found("parcel") == [lena.conversation_id], "never another agent's"
    assert await found("50%25_") == [lena.conversation_id], "% and _ match themselves"
    assert await found("0%25f") == []
    open_only = await maria.get("/api/conversations?q=parcel&state=open")
    assert open_only == []
    everyone = await people["admin"].get("/api/conversations?q=parcel&scope=all")
    assert {c["id"] for c in everyone} == {lena.conversation_id, other.conversation_id}


async def test_overdue_view_uses_the_hub_clock(hub: Hub, clock: FakeClock, people):
    admin = people["admin"]
    await admin.call(
        "PUT", "/api/admin/channels/webchat/rules", {"first_response_minutes": 30}, expect=200
    )
    late = await hub.ingest(chat("v1", "1", "first", sender_name="Lena"))
    clock.advance(minutes=10)
    later = await hub.ingest(chat("v2", "2", "second", sender_name="Omar"))
    for started in (late, later):
        await give(people, started.customer_id, "maria", None)
    maria = people["maria"]
    assert await maria.get("/api/conversations?state=overdue") == []

    clock.advance(minutes=25)
    overdue = await maria.get("/api/conversations?state=overdue")
    assert [c["id"] for c in overdue] == [late.conversation_id]
    clock.advance(minutes=10)
    overdue = await maria.get("/api/conversations?state=overdue")
    assert [c["id"] for c in overdue] == [late.conversation_id, later.conversation_id]
    await maria.post(
        f"/api/conversations/{late.conversation_id}/replies", {"text": "Sorry!"}, expect=202
    )
    overdue = await maria.get("/api/conversations?state=overdue")
    assert [c["id"] for c in overdue] == [later.conversation_id]
    assert await people["tom"].get("/api/conversations?state=overdue") == []


async def replies_wait_for_new_york(hub: Hub, clock: FakeClock, people) -> tuple[Any, str]:
    """Monday 04:00 in New York: Lena, Maria's customer there, writes; replies to her wait
    for her office hours. Maria, and the path her replies are posted to."""
    clock.set(MONDAY_0900_UTC)
    started = await hub.ingest(chat("v1", "1", "call me", sender_name="Lena"))
    await give(people, started.customer_id, "maria", "tom")
    maria = people["maria"]
    hours = f"/api/customers/{started.customer_id}/contact-hours"
    await maria.call("PUT", hours, {"hours": NEW_YORK_OFFICE}, expect=200)
    return maria, f"/api/conversations/{started.conversation_id}/replies"


async def test_scheduled_view_lists_replies_waiting_for_the_customers_hours(
    hub: Hub, clock: FakeClock, people
):
    maria, path = await replies_wait_for_new_york(hub, clock, people)
    reply = await maria.post(path, {"text": "At nine your time?"}, expect=202)
    assert reply["state"] == "scheduled"

    (waiting,) = await maria.get("/api/scheduled")
    assert waiting["id"] == reply["id"]
    assert waiting["release_at"] == "2026-03-02T14:00:00+00:00"  # 09:00 EST
    assert (waiting["customer_name"], waiting["author_name"], waiting["text"]) == (
        "Lena",
        "Maria",
        "At nine your time?",
    )
    assert await people["tom"].get("/api/scheduled") == []
    status, _ = await people["tom"].call("GET", "/api/scheduled?scope=all")
    assert status == 403
    assert [m["id"] for m in await people["admin"].get("/api/scheduled?scope=all")] == [reply["id"]]

    await maria.post(f"/api/messages/{reply['id']}/send-now", expect=200)
    assert await maria.get("/api/scheduled") == []


async def test_a_scheduled_or_cancelled_reply_is_not_the_preview_until_sent(
    hub: Hub, clock: FakeClock, people
):
    maria, path = await replies_wait_for_new_york(hub, clock, people)
    withdrawn = await maria.post(path, {"text": "Never mind"}, expect=202)
    await maria.post(f"/api/messages/{withdrawn['id']}/cancel", expect=200)
    waiting = await maria.post(path, {"text": "At nine your time?"}, expect=202)
    assert waiting["state"] == "scheduled"

    (item,) = await maria.get("/api/conversations")
    preview = item["last_message"]
    assert (preview["direction"], preview["text"]) == ("in", "call me")

    await maria.post(f"/api/messages/{waiting['id']}/send-now", expect=200)
    (item,) = await maria.get("/api/conversations")
    assert (item["last_message"]["direction"], item["last_message"]["text"]) == (
        "out",
        "At nine your time?",
    )


async def test_customer_panel_names_owner_and_backup_and_says_when_hours_open(
    hub: Hub, clock: FakeClock, people
):
    clock.set(MONDAY_0900_UTC)
    started = await hub.ingest(chat("v1", "1", "hello", sender_name="Lena"))
    await give(people, started.customer_id, "maria", "tom")
    maria = people["maria"]
    panel_path = f"/api/customers/{started.customer_id}"
    panel = await maria.get(panel_path)
    assert (panel["name"], panel["owner"], panel["backup"]) == (
        "Lena",
        {"id": people["maria"].agent["id"], "name": "Maria"},
        {"id": people["tom"].agent["id"], "name": "Tom"},
    )
    assert panel["contact"] == {
        "zone": "UTC",
        "source": None,
        "always_reachable": False,
        "open": True,
        "opens_at": None,
        "closes_at": None,
        "now": "2026-03-02T09:00:00+00:00",
        "channel": "webchat",
    }

    await maria.call("PUT", panel_path + "/contact-hours", {"hours": NEW_YORK_OFFICE}, expect=200)
    contact = (await maria.get(panel_path))["contact"]
    assert (contact["zone"], contact["source"], contact["open"]) == (
        "America/New_York",
        "customer",
        False,
    )
    assert contact["opens_at"] == "2026-03-02T14:00:00+00:00"
    clock.set(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    contact = (await maria.get(panel_path))["contact"]
    assert (contact["open"], contact["closes_at"]) == (True, "2026-03-02T22:00:00+00:00")
    assert (await people["admin"].get(panel_path))["owner"]["name"] == "Maria"


async def test_canned_responses_are_read_by_agents_and_kept_by_admins(people):
    admin, maria = people["admin"], people["maria"]
    assert await maria.get("/api/canned-responses") == []
    created = await admin.post(
        "/api/admin/canned-responses",
        {"title": "Shipping", "text": "Orders ship within 2 days."},
        expect=201,
    )
    assert set(created) == {"id", "title", "text"}
    await admin.post(
        "/api/admin/canned-responses", {"title": "Returns", "text": "30 days."}, expect=201
    )
    listed = await maria.get("/api/canned-responses")
    assert [(c["title"], c["text"]) for c in listed] == [
        ("Returns", "30 days."),
        ("Shipping", "Orders ship within 2 days."),
    ]

    status, _ = await maria.call(
        "POST", "/api/admin/canned-responses", {"title": "Mine", "text": "no"}
    )
    assert status == 403
    status, body = await admin.call(
        "POST", "/api/admin/canned-responses", {"title": " ", "text": "x"}
    )
    assert status == 422
    assert "title" in body["error"]
    status, _ = await maria.call("DELETE", f"/api/admin/canned-responses/{created['id']}")
    assert status == 403
    deleted = await admin.call("DELETE", f"/api/admin/canned-responses/{created['id']}", expect=200)
    assert deleted[1] == {"id": created["id"], "deleted": True}
    status, _ = await admin.call("DELETE", f"/api/admin/canned-responses/{created['id']}")
    assert status == 404
    assert [c["title"] for c in await maria.get("/api/canned-responses")] == ["Returns"]
    audit = await admin.get("/api/admin/audit")
    assert {"canned.created", "canned.deleted"} <= {entry["action"] for entry in audit}


async def fetch(browser: Browser, path: str) -> tuple[int, dict[str, str], str]:
    async with browser.session.get(browser.url(path)) as response:
        return response.status, dict(response.headers), await response.text()


EVIL_HTML = (
    '<p onclick="alert(1)">Hi <b>there</b></p><script>alert(1)</script>'
    '<img src=x onerror="alert(1)"><img src="https://tracker.example/p.gif">'
    '<a href="javascript:alert(1)">click</a><a href="https://shop.example/">shop</a>'
    "<style>body{background:url(https://tracker.example/bg)}</style>"
)


async def test_html_body_is_sanitized_locked_down_and_access_checked(
    hub: Hub, people, browser_factory
):
    started = await hub.ingest(chat("v1", "1", "Hi there", html=EVIL_HTML))
    plain = await hub.ingest(chat("v1", "2", "just text"))
    await give(people, started.customer_id, "maria", None)
    maria = people["maria"]
    detail = await maria.get(f"/api/conversations/{started.conversation_id}")
    html_id, plain_id = (m["id"] for m in detail["messages"])
    assert plain.message_id == plain_id
    path = f"/api/messages/{html_id}/body.html"

    status, headers, body = await fetch(maria, path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "img-src data:;" in policy
    assert "frame-ancestors 'self'" in policy
    assert "script-src" not in policy
    assert headers["Referrer-Policy"] == "no-referrer"
    for banned in ("<script", "onerror", "onclick", "javascript:", "tracker.example/bg", 'src="x"'):
        assert banned not in body
    assert "<b>there</b>" in body
    assert '<img src="https://tracker.example/p.gif">' in body
    assert 'href="https://shop.example/" target="_blank"' in body

    _, headers, _ = await fetch(maria, path + "?images=1")
    assert "img-src https: http: data:" in headers["Content-Security-Policy"]

    status, _, _ = await fetch(people["tom"], path)
    assert status == 403
    status, _, _ = await fetch(await browser_factory(), path)
    assert status == 401
    status, _, _ = await fetch(maria, f"/api/messages/{plain_id}/body.html")
    assert status == 404
    status, _, _ = await fetch(people["admin"], path)
    assert status == 200


async def test_channels_for_icons(people):
    channels = await people["maria"].get("/api/channels")
    assert channels == [{"name": "webchat", "kind": "webchat"}, {"name": "sms", "kind": "api"}]
