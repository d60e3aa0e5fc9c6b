"""The agent inbox page in a real Chromium: sign-in, live updates, replies, resume, escaping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import pyotp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Locator, Page, WebSocket, expect
from sqlalchemy import insert

from connectors.base import Address, InboundMessage
from hub.api.live import newest_event_id
from hub.app import Hub
from hub.db.schema import hub_state
from hub.team import get_agent, update_agent
from hub.two_factor import REQUIRED_STATE
from tests.support.chromium import page_without_script_errors
from tests.support.clock import FakeClock
from tests.support.hubs import PASSWORD, add_agent
from tests.support.messages import chat, proven

EMAIL = "maria@example.com"
SHUTDOWN_SECONDS = 5
XSS = '<img src=x onerror="window.pwned=1">'


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    async with page_without_script_errors(context) as page:
        yield page


@pytest.fixture
async def maria(hub: Hub) -> int:
    return await add_agent(hub, EMAIL, name="Maria")


def url(server: TestServer, path: str = "/") -> str:
    return str(server.make_url(path))


async def sign_in(page: Page, server: TestServer, password: str = PASSWORD) -> None:
    await page.goto(url(server))
    await page.get_by_test_id("login-email").fill(EMAIL)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def open_inbox(page: Page, server: TestServer) -> None:
    await sign_in(page, server)
    await expect(page.get_by_test_id("live-status")).to_have_text("live")


def conversation_item(page: Page, conversation_id: int) -> Locator:
    return page.locator(
        f'[data-testid="conversation-item"][data-conversation-id="{conversation_id}"]'
    )


def message(page: Page, text: str) -> Locator:
    return page.get_by_test_id("message").filter(has_text=text)


async def open_conversation(page: Page, conversation_id: int) -> None:
    await conversation_item(page, conversation_id).click()
    await expect(page.get_by_test_id("message").first).to_be_visible()


async def test_sign_in_shows_my_conversation_and_sign_out_ends_it(
    hub: Hub, server: TestServer, context: BrowserContext, page: Page, maria: int
):
    mine = await hub.ingest(chat("v1", "1", "hello there", sender_name="Lena"))

    await sign_in(page, server, password="not the password")
    await expect(page.locator("#login-error")).to_contain_text("wrong email or password")
    await expect(page.locator("#inbox-view")).to_be_hidden()

    await sign_in(page, server)
    await expect(page.get_by_test_id("live-status")).to_have_text("live")
    await expect(page.locator("#agent-name")).to_have_text("Maria")
    await expect(page.get_by_test_id("conversation-item")).to_have_count(1)
    await expect(conversation_item(page, mine.conversation_id)).to_contain_text("Lena")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["hub_session"]["httpOnly"] is True
    assert await page.evaluate("document.cookie") == ""

    await page.reload()
    await expect(conversation_item(page, mine.conversation_id)).to_be_visible()
    await page.locator("#logout").click()
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    assert "hub_session" not in {c["name"] for c in await context.cookies()}
    await page.reload()
    await expect(page.get_by_test_id("login-submit")).to_be_visible()


async def test_new_messages_appear_live_in_the_list_and_the_open_conversation(
    hub: Hub, server: TestServer, page: Page, maria: int
):
    first = await hub.ingest(chat("v1", "1", "first question", sender_name="Lena"))
    await open_inbox(page, server)
    opened = conversation_item(page, first.conversation_id)
    await expect(opened.locator(".badge")).to_have_text("1")
    await open_conversation(page, first.conversation_id)
    await expect(page.get_by_test_id("customer-name")).to_have_text("Lena")
    await expect(opened.locator(".badge")).to_have_count(0)  # opening marks it read
    await page.evaluate("window.notReloaded = true")

    await hub.ingest(chat("v1", "2", "are you there?"))
    other = await hub.ingest(chat("v2", "3", "a new customer", sender_name="Omar"))
    await expect(message(page, "are you there?")).to_have_attribute("data-direction", "in")
    await expect(page.get_by_test_id("message")).to_have_count(2)
    newcomer = conversation_item(page, other.conversation_id)
    await expect(newcomer).to_contain_text("Omar")
    await expect(newcomer.locator(".badge")).to_have_text("1")

    await hub.ingest(chat("v2", "4", "hello?"))
    await expect(newcomer.locator(".badge")).to_have_text("2")
    await expect(opened.locator(".badge")).to_have_count(0)
    assert await page.evaluate("window.notReloaded") is True


async def test_reply_note_and_resolve_from_the_page(
    hub: Hub, server: TestServer, context: BrowserContext, page: Page, maria: int
):
    phone = Address("phone", "+49151000")
    started = await hub.ingest(
        chat(
            "v1", "1", "my order is late", sender_name="Lena", linked=proven("phone", phone.address)
        )
    )
    conversation_id = started.conversation_id
    await open_inbox(page, server)
    await page.reload()  # the CSRF token must survive a reload (it comes back from /api/me)
    await expect(page.get_by_test_id("live-status")).to_have_text("live")
    await open_conversation(page, conversation_id)
    await expect(page.locator("#identities")).to_contain_text("phone: +49151000")

    await page.get_by_test_id("reply-text").fill("It ships today.")
    await page.get_by_test_id("reply-text").press("Control+Enter")
    reply = message(page, "It ships today.")
    await expect(reply).to_have_attribute("data-direction", "out")
    await expect(reply).to_have_attribute("data-status", "queued")
    await hub.outbox.run_due()
    await expect(reply).to_have_attribute("data-status", "sent")
    await expect(reply).to_have_attribute("data-receipt", "sent")  # one tick: no receipts here
    await expect(reply.locator(".message-status")).to_have_attribute("aria-label", "Sent")

    sms_option = page.locator("#reply-identity option", has_text="phone: +49151000")
    await page.locator("#reply-identity").select_option(await sms_option.get_attribute("value"))
    await page.get_by_test_id("reply-text").fill("Also by SMS.")
    await page.get_by_test_id("reply-send").click()
    await expect(message(page, "Also by SMS.")).to_have_attribute("data-status", "queued")
    await hub.outbox.run_due()
    by_sms = message(page, "Also by SMS.")
    await expect(by_sms).to_have_attribute("data-status", "failed")
    await expect(by_sms.locator(".message-status")).to_contain_text("failed: channel sms has no")

    response = await context.request.get(url(server, f"/api/conversations/{conversation_id}"))
    history = (await response.json())["messages"]
    assert [(m["direction"], m["channel"], m["text"], m["state"]) for m in history] == [
        ("in", "webchat", "my order is late", "received"),
        ("out", "webchat", "It ships today.", "sent"),
        ("out", "sms", "Also by SMS.", "failed"),
    ]

    await page.get_by_test_id("reply-text").fill("Customer is a VIP.")
    await page.get_by_test_id("note-send").click()
    note = message(page, "Customer is a VIP.")
    await expect(note).to_have_attribute("data-direction", "note")
    await expect(note).to_contain_text("Internal note")

    await page.get_by_test_id("resolve").click()
    await expect(conversation_item(page, conversation_id)).to_have_count(0)
    await expect(page.get_by_test_id("reopen")).to_be_visible()
    await page.locator('.tab[data-view="resolved"]').click()
    await expect(conversation_item(page, conversation_id)).to_be_visible()
    await page.get_by_test_id("reopen").click()
    await expect(conversation_item(page, conversation_id)).to_have_count(0)
    await expect(page.get_by_test_id("resolve")).to_be_visible()


async def test_reply_identity_is_preselected_where_the_customer_last_wrote(
    hub: Hub, server: TestServer, context: BrowserContext, page: Page, maria: int
):
    phone = Address("phone", "+49151000")
    started = await hub.ingest(
        chat("v1", "1", "hello", sender_name="Lena", linked=proven("phone", phone.address))
    )
    await hub.ingest(InboundMessage(channel="sms", external_id="s1", sender=phone, text="by sms"))
    await open_inbox(page, server)
    detail = url(server, f"/api/conversations/{started.conversation_id}")
    identities = (await (await context.request.get(detail)).json())["identities"]
    ids = {i["kind"]: str(i["id"]) for i in identities}
    await open_conversation(page, started.conversation_id)
    choice = page.locator("#reply-identity")
    await expect(choice).to_have_value(ids["phone"])

    await hub.ingest(chat("v1", "2", "back on the website"))
    await expect(choice).to_have_value(ids["webchat"])
    await choice.select_option(ids["phone"])
    await hub.ingest(chat("v1", "3", "still on the website"))
    await expect(message(page, "still on the website")).to_be_visible()
    await expect(choice).to_have_value(ids["phone"])
    await page.get_by_test_id("reply-text").fill("Texting you.")
    await page.get_by_test_id("reply-send").click()
    await expect(message(page, "Texting you.").locator(".message-channel")).to_have_text("sms")


async def test_a_colleagues_notes_show_their_name(
    hub: Hub, server: TestServer, page: Page, maria: int, browser_factory
):
    started = await hub.ingest(chat("v1", "1", "hello", sender_name="Lena"))
    await add_agent(hub, "ada@example.com", role="admin", name="Ada")
    ada = await (await browser_factory()).login("ada@example.com")
    notes = f"/api/conversations/{started.conversation_id}/notes"
    await ada.post(notes, {"text": "Call her back"}, expect=201)
    await open_inbox(page, server)
    await open_conversation(page, started.conversation_id)
    await expect(message(page, "Call her back").locator(".message-author")).to_have_text("by Ada")
    await ada.post(notes, {"text": "Done"}, expect=201)
    await expect(message(page, "Done").locator(".message-author")).to_have_text("by Ada")


async def test_a_refused_action_shows_the_api_error(
    hub: Hub, server: TestServer, page: Page, maria: int
):
    old = await hub.ingest(chat("v1", "1", "first visit", sender_name="Lena"))
    await open_inbox(page, server)
    await open_conversation(page, old.conversation_id)
    await page.get_by_test_id("resolve").click()
    await expect(page.get_by_test_id("reopen")).to_be_visible()
    new = await hub.ingest(chat("v1", "2", "back again"))

    await page.get_by_test_id("reopen").click()
    await expect(page.locator("#reply-error")).to_have_text(
        f"the customer already has open conversation {new.conversation_id}: resolve it first"
    )
    await expect(page.get_by_test_id("reopen")).to_be_visible()


async def stop_server(server: TestServer, hub: Hub) -> TestServer:
    """Stop the HTTP server promptly (open sockets too); a new one to start on the same port."""
    port = server.port
    async with asyncio.timeout(SHUTDOWN_SECONDS):
        await server.close()
    return TestServer(hub.web_app(), host="127.0.0.1", port=port)


async def test_after_a_drop_the_page_resumes_and_shows_missed_messages_once(
    hub: Hub, server: TestServer, page: Page, maria: int
):
    first = await hub.ingest(chat("v1", "1", "before the drop", sender_name="Lena"))
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    await open_inbox(page, server)
    await open_conversation(page, first.conversation_id)
    last_seen = await hub.db.read(newest_event_id)
    events = url(server, "/api/events").replace("http", "ws", 1)

    restarted = await stop_server(server, hub)
    try:
        await expect(page.get_by_test_id("live-status")).to_have_text("reconnecting")
        await hub.ingest(chat("v1", "2", "missed one"))
        await hub.ingest(chat("v1", "3", "missed two"))
        newcomer = await hub.ingest(chat("v9", "4", "hello from a newcomer", sender_name="Ida"))
        await restarted.start_server()
        await expect(page.get_by_test_id("live-status")).to_have_text("live", timeout=15_000)
        await hub.ingest(chat("v1", "5", "after the drop"))

        await expect(message(page, "after the drop")).to_be_visible()
        shown = await page.get_by_test_id("message").locator(".message-text").all_text_contents()
        assert shown == ["before the drop", "missed one", "missed two", "after the drop"]
        await expect(conversation_item(page, newcomer.conversation_id)).to_contain_text("Ida")
        await expect(page.locator("#inbox-error")).to_be_empty()
    finally:
        await restarted.close()
    assert [s.url for s in sockets] == [events, f"{events}?after={last_seen}"]


async def test_customer_html_is_shown_as_text(hub: Hub, server: TestServer, page: Page, maria: int):
    sneaky = await hub.ingest(chat("v1", "1", XSS, sender_name="<b>Lena</b>", html=f"<p>{XSS}</p>"))
    await open_inbox(page, server)
    await open_conversation(page, sneaky.conversation_id)
    await expect(page.get_by_test_id("message").locator(".message-text")).to_have_text(XSS)
    await expect(page.get_by_test_id("customer-name")).to_have_text("<b>Lena</b>")
    await hub.ingest(chat("v1", "2", XSS + " again"))
    await expect(page.get_by_test_id("message")).to_have_count(2)
    assert await page.locator("img, b").count() == 0
    assert await page.evaluate("typeof window.pwned") == "undefined"


async def test_away_toggle_keeps_my_backup(hub: Hub, server: TestServer, page: Page, maria: int):
    tom = await add_agent(hub, "tom@example.com", name="Tom")
    await hub.db.write(partial(update_agent, maria, maria, {"backup_id": tom}))
    await open_inbox(page, server)

    async with page.expect_response("**/api/me/status") as saved:
        await page.locator("#away-toggle").check()
    assert (await saved.value).ok
    await page.reload()
    await expect(page.locator("#away-toggle")).to_be_checked()
    me = await hub.db.read(lambda conn: get_agent(conn, maria))
    assert (me["away"], me["backup_id"]) == (True, tom)


def watch_csp(page: Page) -> list[str]:
    """What the browser reports refusing under the page's Content-Security-Policy."""
    refused: list[str] = []
    page.on(
        "console",
        lambda entry: refused.append(entry.text) if "Content Security Policy" in entry.text else 0,
    )
    return refused


async def enter_code(page: Page, code: str) -> None:
    await page.get_by_test_id("login-code").fill(code)
    await page.get_by_test_id("login-submit").click()


async def set_up_two_factor(page: Page, clock: FakeClock) -> tuple[str, list[str]]:
    """On the account page: scan (read the key shown), confirm a code; the recovery codes."""
    await page.get_by_test_id("totp-start").click()
    qr = page.get_by_test_id("totp-qr")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    secret = await page.get_by_test_id("totp-secret").text_content()
    assert secret
    await page.get_by_test_id("totp-code").fill(pyotp.TOTP(secret).at(clock.now()))
    await page.get_by_test_id("totp-confirm").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    await expect(codes).to_have_count(10)
    await expect(page.get_by_test_id("two-factor-status")).to_contain_text("On")
    return secret, await codes.all_text_contents()


async def test_two_factor_set_up_on_the_account_page_then_a_code_or_recovery_code_signs_in(
    server: TestServer, page: Page, maria: int, clock: FakeClock
):
    refused = watch_csp(page)
    await open_inbox(page, server)
    await page.get_by_test_id("account-link").click()
    await expect(page.get_by_test_id("two-factor-status")).to_contain_text("Off")
    secret, recovery = await set_up_two_factor(page, clock)

    await page.locator("#logout").click()
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
    await sign_in(page, server)
    await expect(page.get_by_test_id("login-code")).to_be_visible()
    await expect(page.locator("#inbox-view")).to_be_hidden()
    await enter_code(page, "000000")
    await expect(page.locator("#login-error")).to_contain_text("wrong code")
    clock.advance(seconds=30)
    await enter_code(page, pyotp.TOTP(secret).at(clock.now()))
    await expect(page.get_by_test_id("live-status")).to_have_text("live")

    await page.locator("#logout").click()
    await sign_in(page, server)
    await enter_code(page, recovery[0])
    await expect(page.get_by_test_id("live-status")).to_have_text("live")
    assert not refused, refused


async def test_when_the_team_requires_two_factor_an_agent_sets_it_up_before_the_inbox(
    hub: Hub, server: TestServer, page: Page, maria: int, clock: FakeClock
):
    await hub.db.write(
        lambda tx: tx.conn.execute(insert(hub_state).values(key=REQUIRED_STATE, value="true"))
    )
    await sign_in(page, server)
    await expect(page).to_have_url(url(server, "/account"))
    await expect(page.get_by_test_id("must-enrol")).to_be_visible()
    await expect(page.locator("#inbox-link")).to_be_hidden()
    await page.goto(url(server))
    await expect(page).to_have_url(url(server, "/account"))

    await set_up_two_factor(page, clock)
    await page.get_by_test_id("account-done").click()
    await expect(page.get_by_test_id("live-status")).to_have_text("live")


async def test_the_page_signs_out_when_its_session_is_ended_elsewhere(
    hub: Hub, server: TestServer, page: Page, maria: int
):
    await open_inbox(page, server)
    await hub.db.write(partial(update_agent, maria, maria, {"password_hash": "changed"}))
    await expect(page.locator("#login-error")).to_have_text(
        "Your session ended: please sign in again."
    )
    await expect(page.get_by_test_id("login-submit")).to_be_visible()
