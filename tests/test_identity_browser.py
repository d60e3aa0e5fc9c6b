"""Proof of identity in real Chromium: the widget confirms a typed email with a code, a signed-in
site's widget links the visitor, and the inbox shows a claim that an admin can merge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect
from sqlalchemy import select

from connectors.webchat.protocol import signature
from hub.app import Hub
from hub.db.schema import audit_log, messages
from tests.support.hubs import PASSWORD, add_agent, started_hub
from tests.support.smtp import SmtpPeer
from tests.test_inbox_views_browser import watch
from tests.test_webchat_identity import (
    LENA,
    code_in,
    customer_of_message,
    lena_writes_by_mail,
    settings_for,
)
from tests.test_widget_browser import Visitor, visit


@pytest.fixture
async def hub(database_url, clock, relay) -> AsyncIterator[Hub]:
    async with started_hub(settings_for(database_url, relay.port), clock) as hub:
        yield hub


@pytest.fixture
async def context(chromium_browser, server: TestServer) -> AsyncIterator[BrowserContext]:
    """Closed before the server: an open widget would hold up the server's shutdown."""
    context = await chromium_browser.new_context()
    try:
        yield context
    finally:
        await context.close()


async def visitor_message_id(hub: Hub, text: str) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(messages.c.id).where(messages.c.text == text)).scalar_one()
    )


async def test_the_widget_confirms_a_typed_email_with_a_code_from_the_mail(
    hub: Hub, server: TestServer, context: BrowserContext, relay: SmtpPeer
):
    lena = await lena_writes_by_mail(hub)
    visitor = await visit(context, server)
    await visitor.open_chat()
    await visitor.page.get_by_test_id("hubchat-email").fill(LENA)
    sent = await visitor.say("Where is my parcel?")
    await expect(sent).to_have_attribute("data-state", "sent")
    message_id = await visitor_message_id(hub, "Where is my parcel?")
    assert await customer_of_message(hub, message_id) != lena
    verify = visitor.page.get_by_test_id("hubchat-verify")
    await expect(verify).to_contain_text(f"Is {LENA} yours?")
    await visitor.page.get_by_test_id("hubchat-verify-send").click()
    await expect(verify).to_contain_text(f"We sent a code to {LENA}")
    (mail,) = relay.received
    code = visitor.page.get_by_test_id("hubchat-code")
    await code.fill("000000" if code_in(mail) != "000000" else "111111")
    await visitor.page.get_by_test_id("hubchat-code-send").click()
    await expect(visitor.page.get_by_test_id("hubchat-error")).to_have_text(
        "that is not the code we sent"
    )
    await code.fill(code_in(mail))
    await code.press("Enter")
    await expect(visitor.page.get_by_test_id("hubchat-verify-text")).to_have_text(
        f"{LENA} is confirmed. Thank you!"
    )
    assert await customer_of_message(hub, message_id) == lena
    assert visitor.errors == []


@asynccontextmanager
async def shop(html: str) -> AsyncIterator[str]:
    """The shop's own site (another origin than the hub's), serving one page: its address."""

    async def account(_request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/account", account)
    site = TestServer(app, host="127.0.0.1")
    await site.start_server()
    try:
        yield str(site.make_url("/account"))
    finally:
        await site.close()


def shop_page(widget_url: str, user: dict[str, str]) -> str:
    attributes = " ".join(f'data-user-{name}="{value}"' for name, value in user.items())
    return (
        "<!doctype html><html><head><title>Shop</title></head><body><h1>My account</h1>"
        f'<script src="{widget_url}" data-hub-chat {attributes} async></script></body></html>'
    )


async def test_a_signed_in_shop_links_its_visitor_without_asking(
    hub: Hub, server: TestServer, context: BrowserContext
):
    lena = await lena_writes_by_mail(hub)
    user = {
        "id": "17",
        "email": LENA,
        "name": "Lena",
        "signature": signature("site-identity-secret-0123456789", "17", LENA),
    }
    html = shop_page(str(server.make_url("/webchat/webchat/widget.js")), user)
    page = await context.new_page()
    visitor = Visitor(page)
    page.on("pageerror", lambda error: visitor.errors.append(str(error)))
    async with shop(html) as account_page:
        await page.goto(account_page)
        await visitor.open_chat()
        await expect(page.get_by_test_id("hubchat-email")).to_be_hidden()
        sent = await visitor.say("Signed in and asking")
        await expect(sent).to_have_attribute("data-state", "sent")
        await expect(page.get_by_test_id("hubchat-verify")).to_be_hidden()
    message_id = await visitor_message_id(hub, "Signed in and asking")
    assert await customer_of_message(hub, message_id) == lena
    assert visitor.errors == []


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    page = await context.new_page()
    problems = watch(page)
    yield page
    assert [p for p in problems if not p.startswith("dialog: Merge this customer")] == []


async def test_an_admin_sees_the_claim_in_the_inbox_and_merges_it_audited(
    hub: Hub, server: TestServer, context: BrowserContext, page: Page
):
    admin = await add_agent(hub, "ada@example.com", role="admin", name="Ada")
    lena = await lena_writes_by_mail(hub)
    visitor = await visit(context, server)
    await visitor.open_chat()
    await visitor.page.get_by_test_id("hubchat-email").fill(LENA)
    await expect(await visitor.say("It's Lena")).to_have_attribute("data-state", "sent")
    claimant = await customer_of_message(hub, await visitor_message_id(hub, "It's Lena"))

    await page.goto(str(server.make_url("/")))
    await page.get_by_test_id("login-email").fill("ada@example.com")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("conversation-item").filter(has_text="Web visitor").click()
    claim = page.get_by_test_id("claim")
    await expect(claim).to_contain_text(
        f"Says they are {LENA}, not verified (typed it in the chat)"
    )
    await expect(claim).to_contain_text(f"That address belongs to {LENA} (#{lena})")
    await expect(page.get_by_test_id("identity")).to_contain_text("verified by the channel")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_test_id("claim-merge").click()
    await expect(page.get_by_test_id("claims")).to_be_empty()
    await expect(page.get_by_test_id("identity")).to_have_count(2)
    merged = await hub.db.read(
        lambda conn: conn.execute(
            select(audit_log.c.actor_id, audit_log.c.subject_id, audit_log.c.details).where(
                audit_log.c.action == "customer.merged"
            )
        ).one()
    )
    assert (merged.actor_id, merged.subject_id) == (admin, lena)
    assert (merged.details["merged_customer"]["id"], merged.details["proof"]) == (
        claimant,
        "person",
    )
