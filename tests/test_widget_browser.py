"""The web chat widget in real Chromium: a visitor on the demo shop, an agent on the API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser as Chromium
from playwright.async_api import BrowserContext, Locator, Page, WebSocketRoute, expect

from hub.app import Hub
from tests.support.hubs import Browser, add_agent

DEMO = "/webchat/webchat/demo"
MARKUP = '<img src=x onerror="window.pwned=1">'


@dataclass
class Visitor:
    """The demo shop in one tab, and the JavaScript errors it has raised."""

    page: Page
    errors: list[str] = field(default_factory=list)

    @property
    def messages(self) -> Locator:
        return self.page.get_by_test_id("hubchat-message")

    @property
    def agent_messages(self) -> Locator:
        return self.messages.and_(self.page.locator('[data-from="agent"]'))

    async def open_chat(self) -> None:
        await self.page.get_by_test_id("hubchat-launcher").click()
        await expect(self.page.get_by_test_id("hubchat-panel")).to_be_visible()
        await expect(self.page.get_by_test_id("hubchat-status")).to_have_text("Connected")

    async def say(self, text: str) -> Locator:
        """Type and press Enter; the visitor's newest message."""
        box = self.page.get_by_test_id("hubchat-input")
        await box.fill(text)
        await box.press("Enter")
        await expect(box).to_have_value("")
        return self.messages.and_(self.page.locator('[data-from="visitor"]')).last


@pytest.fixture
async def context(chromium_browser: Chromium, server: TestServer) -> AsyncIterator[BrowserContext]:
    """Closed before the server: an open widget would hold up the server's shutdown."""
    context = await chromium_browser.new_context()
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def maria(hub: Hub, browser_factory) -> Browser:
    await add_agent(hub, "maria@example.com")
    return await (await browser_factory()).login("maria@example.com")


async def visit(
    context: BrowserContext,
    server: TestServer,
    relay: Callable[[WebSocketRoute], None] | None = None,
) -> Visitor:
    """The demo shop in a new tab; ``relay`` stands between the widget and the hub."""
    visitor = Visitor(await context.new_page())
    visitor.page.on("pageerror", lambda error: visitor.errors.append(str(error)))
    if relay is not None:
        await visitor.page.route_web_socket("**/webchat/webchat/ws", relay)
    await visitor.page.goto(str(server.make_url(DEMO)))
    return visitor


async def only_conversation(agent: Browser) -> dict:
    listing = await agent.get("/api/conversations")
    assert len(listing) == 1
    return await agent.get(f"/api/conversations/{listing[0]['id']}")


def texts(conversation: dict) -> list[tuple[str, str]]:
    return [(m["direction"], m["text"]) for m in conversation["messages"]]


async def reply(hub: Hub, agent: Browser, conversation_id: int, text: str) -> None:
    path = f"/api/conversations/{conversation_id}/replies"
    await agent.post(path, {"text": text}, expect=202)
    await hub.outbox.run_due()


async def test_visitor_message_reaches_the_agent_and_turns_sent(context, server, maria):
    visitor = await visit(context, server)
    await visitor.open_chat()
    await expect(visitor.page.get_by_test_id("hubchat-title")).to_have_text("Chat with us")
    await visitor.page.get_by_test_id("hubchat-name").fill("Lena")
    await visitor.page.get_by_test_id("hubchat-email").fill("Lena@Example.org")
    sent = await visitor.say("Do you ship to Norway?")
    await expect(sent).to_have_attribute("data-state", "sent")
    await expect(sent).to_contain_text("Do you ship to Norway?")
    await expect(visitor.page.get_by_test_id("hubchat-email")).to_be_hidden()

    conversation = await only_conversation(maria)
    assert texts(conversation) == [("in", "Do you ship to Norway?")]
    assert conversation["customer"]["name"] == "Lena"
    assert [i["kind"] for i in conversation["identities"]] == ["webchat"]
    claimed = [(c["kind"], c["address"], c["reason"]) for c in conversation["claims"]]
    assert claimed == [("email", "lena@example.org", "typed")]
    assert visitor.errors == []


async def test_agent_reply_appears_live_and_on_the_closed_launcher(hub, context, server, maria):
    visitor = await visit(context, server)
    await visitor.open_chat()
    await expect(await visitor.say("Do you ship to Norway?")).to_have_attribute(
        "data-state", "sent"
    )
    conversation = await only_conversation(maria)

    await reply(hub, maria, conversation["id"], "Yes, we do!")
    await expect(visitor.agent_messages).to_have_count(1)
    await expect(visitor.agent_messages).to_contain_text("Yes, we do!")

    launcher = visitor.page.get_by_test_id("hubchat-launcher")
    await launcher.click()
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await reply(hub, maria, conversation["id"], "Anything else?")
    await expect(launcher).to_have_attribute("aria-label", "Chat, 1 new")
    await launcher.click()
    await expect(visitor.agent_messages).to_contain_text(["Yes, we do!", "Anything else?"])
    assert visitor.errors == []


async def test_reload_keeps_the_customer_and_shows_what_came_meanwhile(hub, context, server, maria):
    visitor = await visit(context, server)
    await visitor.open_chat()
    await expect(await visitor.say("first visit")).to_have_attribute("data-state", "sent")

    await visitor.page.reload()
    await expect(visitor.page.get_by_test_id("hubchat-panel")).to_be_visible()
    await expect(visitor.messages).to_have_count(1)
    await expect(visitor.messages).to_contain_text(["first visit"])
    await expect(await visitor.say("second visit")).to_have_attribute("data-state", "sent")
    conversation = await only_conversation(maria)
    assert texts(conversation) == [("in", "first visit"), ("in", "second visit")]
    await visitor.page.close()

    await reply(hub, maria, conversation["id"], "While you were away")
    visitor = await visit(context, server)
    await visitor.open_chat()
    await expect(visitor.messages).to_have_count(3)
    await expect(visitor.messages).to_contain_text(
        ["first visit", "second visit", "While you were away"]
    )
    await expect(visitor.agent_messages).to_contain_text(["While you were away"])
    assert visitor.errors == []


async def test_markup_from_visitor_and_agent_is_shown_as_text(hub, context, server, maria):
    visitor = await visit(context, server)
    await visitor.open_chat()
    await expect(await visitor.say(MARKUP)).to_have_attribute("data-state", "sent")
    conversation = await only_conversation(maria)
    await reply(hub, maria, conversation["id"], MARKUP.replace("1", "2"))
    await expect(visitor.agent_messages).to_contain_text(MARKUP.replace("1", "2"))

    await visitor.page.reload()  # and once more from history
    await expect(visitor.messages).to_contain_text([MARKUP, MARKUP.replace("1", "2")])
    assert await visitor.page.get_by_test_id("hubchat-messages").locator("img").count() == 0
    assert await visitor.page.evaluate("typeof window.pwned") == "undefined"
    assert visitor.errors == []


async def test_message_whose_ack_was_lost_is_resent_once_after_reconnecting(context, server, maria):
    """The socket drops after the hub stored a message but before the widget heard so."""
    dropped: list[str] = []

    def relay(page_side: WebSocketRoute) -> None:
        hub_side = page_side.connect_to_server()

        async def to_page(frame: str | bytes) -> None:
            if not dropped and json.loads(frame)["type"] == "ack":
                dropped.append(json.loads(frame)["client_id"])
                await page_side.close()
                await hub_side.close()
                return
            page_side.send(frame)

        hub_side.on_message(to_page)

    visitor = await visit(context, server, relay)
    await visitor.open_chat()
    await visitor.say("Are you open on Sunday?")
    await expect(visitor.page.get_by_test_id("hubchat-status")).not_to_have_text("Connected")
    await expect(visitor.page.get_by_test_id("hubchat-status")).to_have_text("Connected")

    await expect(visitor.messages).to_have_count(1)
    await expect(visitor.messages).to_have_attribute("data-state", "sent")
    conversation = await only_conversation(maria)
    assert texts(conversation) == [("in", "Are you open on Sunday?")]
    assert len(dropped) == 1
    assert visitor.errors == []
