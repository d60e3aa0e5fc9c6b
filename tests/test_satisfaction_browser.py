"""The satisfaction answer page and the inbox's "Rated" line in a real Chromium: a comment
is shown as text, never run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser as Chromium
from playwright.async_api import BrowserContext, Page, expect

from config import Settings
from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.hubs import Browser, add_agent
from tests.support.messages import chat
from tests.test_inbox_browser import EMAIL, open_inbox
from tests.test_satisfaction import ASKING, QUESTION, questions_sent, token_in, webchat_settings
from tests.test_widget_browser import MARKUP, only_conversation, visit

XSS = '<img src=x onerror="window.pwned=1"> Quick & kind, thanks!'


@pytest.fixture
def settings(database_url: str) -> Settings:
    return webchat_settings(database_url, ASKING)


@pytest.fixture
async def context(chromium_browser: Chromium, server: TestServer) -> AsyncIterator[BrowserContext]:
    """Closed before the server: an open widget would hold up the server's shutdown."""
    context = await chromium_browser.new_context()
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    async with page_without_script_errors(context) as page:
        yield page


@pytest.fixture
async def maria(hub: Hub, browser_factory) -> Browser:
    await add_agent(hub, EMAIL, name="Maria")
    return await (await browser_factory()).login(EMAIL)


async def resolved_and_asked(hub: Hub, maria: Browser) -> tuple[int, str]:
    """Lena wrote on web chat, Maria resolved it, the question left: the conversation and
    the token of its link."""
    ingested = await hub.ingest(chat("v1", "1", "Do you ship to Norway?", sender_name="Lena"))
    conversation = ingested.conversation_id
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await hub.outbox.run_due()
    (question,) = await questions_sent(hub)
    assert question["state"] == "sent"
    return conversation, token_in(question["text"])


def page_url(server: TestServer, token: str) -> str:
    return str(server.make_url(f"/satisfaction/{token}"))


async def test_the_customer_answers_on_the_page_and_their_comment_stays_text(
    hub: Hub, server: TestServer, page: Page, maria: Browser
):
    _, token = await resolved_and_asked(hub, maria)
    await page.goto(page_url(server, token) + "?score=3")  # a score button in the chat
    await expect(page.get_by_test_id("question")).to_have_text(QUESTION)
    await expect(page.get_by_test_id("score-3")).to_be_checked()
    await page.get_by_test_id("score-4").check()
    await page.get_by_test_id("comment").fill(XSS)
    await save_screenshot(page, "satisfaction")
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("thanks")).to_be_visible()
    await expect(page.get_by_test_id("given-score")).to_have_text("4/5")
    await expect(page.get_by_test_id("given-comment")).to_have_text(XSS)
    assert await page.locator("img").count() == 0
    assert await page.evaluate("window.pwned") is None

    await page.reload()
    await expect(page.get_by_test_id("given-comment")).to_have_text(XSS)
    await page.get_by_test_id("change").click()
    await page.get_by_test_id("score-2").check()
    await page.get_by_test_id("send").click()
    await expect(page.get_by_test_id("given-score")).to_have_text("2/5")
    assert await page.evaluate("window.pwned") is None


async def test_a_link_that_is_not_ours_says_so(hub: Hub, server: TestServer, page: Page):
    await page.goto(page_url(server, "eyJzdXJ2ZXkiOjF9." + "0" * 64))
    await expect(page.get_by_test_id("problem")).to_have_text(
        "this link is not one we sent: check it was copied whole"
    )
    await expect(page.get_by_test_id("answer")).to_be_hidden()


async def test_the_owner_sees_the_rating_line_live_and_the_comment_as_text(
    hub: Hub, server: TestServer, page: Page, maria: Browser
):
    conversation, token = await resolved_and_asked(hub, maria)
    await open_inbox(page, server)
    await page.locator('.tab[data-view="resolved"]').click()
    await page.locator(f'[data-conversation-id="{conversation}"]').click()
    line = page.get_by_test_id("satisfaction")
    await expect(line).to_contain_text("no answer yet")

    answer = {"score": 4, "comment": XSS}
    async with maria.session.post(maria.url(f"/api/satisfaction/{token}"), json=answer) as response:
        assert response.status == 200
    await expect(line).to_have_text(f"Rated 4/5: {XSS}")
    assert await line.locator("img").count() == 0
    assert await page.evaluate("window.pwned") is None
    await save_screenshot(page, "satisfaction-inbox")


async def test_the_web_chat_visitor_gets_the_question_with_a_link_and_nothing_else_is_markup(
    hub: Hub, server: TestServer, context: BrowserContext, maria: Browser
):
    visitor = await visit(context, server)
    await visitor.open_chat()
    sent = await visitor.say("Do you ship to Norway?")
    await expect(sent).to_have_attribute("data-state", "sent")  # stored (PostgreSQL batches)
    conversation = (await only_conversation(maria))["id"]
    replies = f"/api/conversations/{conversation}/replies"
    not_links = f"{MARKUP} javascript:alert(1)"
    await maria.post(replies, {"text": not_links}, expect=202)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await hub.outbox.run_due()
    (question,) = await questions_sent(hub)
    link = question["text"].split("\n")[1]

    asked = visitor.agent_messages.last
    await expect(asked).to_contain_text(QUESTION)
    await expect(asked.get_by_test_id("hubchat-link")).to_have_attribute("href", link)
    await expect(asked.get_by_test_id("hubchat-link")).to_have_attribute("target", "_blank")
    scores = asked.get_by_test_id("hubchat-choice")
    await expect(scores).to_have_text(["1", "2", "3", "4", "5"])
    await expect(scores.nth(3)).to_have_attribute("href", f"{link}?score=4")
    await save_screenshot(visitor.page, "satisfaction-widget")
    first = visitor.agent_messages.first
    await expect(first.locator(".hubchat-message-text")).to_have_text(
        f"{MARKUP} javascript:alert(1)"
    )
    await expect(first.locator("a, img")).to_have_count(0)
    assert await visitor.page.evaluate("window.pwned") is None
    assert visitor.errors == []
