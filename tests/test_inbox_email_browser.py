"""Email in the inbox page, in real Chromium: mail arrives by SMTP, its HTML is shown sanitized
in a sandboxed frame with remote images blocked until asked for, and replies show their
delivery status, a refusal by the mail server with its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, expect

from hub.app import Hub
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.smtp import SmtpPeer
from tests.test_email_channel import TUESDAY_NOON, customer_mail, deliver, email_settings
from tests.test_inbox_browser import EMAIL, message, open_inbox
from tests.test_inbox_views_browser import watch

CSP_BLOCKED_IMAGE = ("Loading the image", "Refused to load the image")  # Chromium's wordings
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class ImageServer:
    """A remote web server with one image, counting who asks for it."""

    def __init__(self) -> None:
        self.requests = 0
        self.server: TestServer | None = None

    async def pixel(self, _request: web.Request) -> web.Response:
        self.requests += 1
        return web.Response(body=PIXEL, content_type="image/png")

    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/pixel.png"))


@pytest.fixture
async def images() -> AsyncIterator[ImageServer]:
    remote = ImageServer()
    app = web.Application()
    app.router.add_get("/pixel.png", remote.pixel)
    remote.server = TestServer(app, host="127.0.0.1")
    await remote.server.start_server()
    try:
        yield remote
    finally:
        await remote.server.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_NOON)


@pytest.fixture
async def hub(database_url: str, clock: FakeClock, relay: SmtpPeer) -> AsyncIterator[Hub]:
    async with started_hub(email_settings(database_url, relay.port), clock) as hub:
        yield hub


def hostile_mail(image_url: str) -> EmailMessage:
    mail = customer_mail("Please see the attached offer.\njavascript:alert(1)")
    del mail["From"]
    mail["From"] = '"<img src=x onerror=alert(1)>" <lena@example.org>'
    mail.add_alternative(
        "<html><head><script>alert('head')</script><style>p{color:red}</style></head>"
        '<body onload="alert(2)"><p onclick="alert(3)">Please see the <b>offer</b>.</p>'
        f'<img src="{image_url}" alt="tracking pixel">'
        "<img src=x onerror=alert(4)>"
        '<a href="javascript:alert(5)">open</a> <a href="https://shop.example/offer">offer</a>'
        '<script>alert(6)</script><iframe src="https://evil.example/"></iframe>'
        "<svg><script>alert(7)</script></svg></body></html>",
        subtype="html",
    )
    return mail


async def test_html_email_is_sanitized_sandboxed_and_images_wait_for_the_agent(
    hub: Hub, server: TestServer, context: BrowserContext, images: ImageServer
):
    await add_agent(hub, EMAIL, name="Maria")
    await deliver(hub, hostile_mail(images.url()))
    page = await context.new_page()
    problems = watch(page, expected=CSP_BLOCKED_IMAGE)
    await open_inbox(page, server)
    item = page.get_by_test_id("conversation-item")
    await expect(item).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(item.locator("svg.channel-icon")).to_have_attribute("data-kind", "email")
    await item.click()

    frame_element = page.get_by_test_id("message-body")
    await expect(frame_element).to_be_visible()
    sandbox = await frame_element.get_attribute("sandbox")
    assert sandbox is not None
    assert "allow-scripts" not in sandbox.split()
    frame = page.frame_locator('[data-testid="message-body"]')
    await expect(frame.locator("p")).to_have_text("Please see the offer.")
    body = await frame.locator("html").evaluate("root => root.outerHTML")
    for banned in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<svg"):
        assert banned not in body.lower(), banned
    assert 'href="https://shop.example/offer"' in body
    plain = page.get_by_test_id("message").locator(".message-text")
    await expect(plain).to_contain_text("javascript:alert(1)")
    await expect(page.get_by_test_id("customer-name")).to_have_text("<img src=x onerror=alert(1)>")
    await page.wait_for_timeout(300)
    assert images.requests == 0, "remote images wait for the agent"

    await page.get_by_test_id("show-images").click()
    pixel = frame.locator('img[alt="tracking pixel"]')
    await expect(pixel).to_have_js_property("naturalWidth", 1)
    assert images.requests == 1
    assert await page.evaluate("typeof window.pwned") == "undefined"
    assert not problems, problems


async def test_reply_status_goes_from_queued_to_sent_or_failed_with_the_servers_reason(
    hub: Hub, server: TestServer, context: BrowserContext, relay: SmtpPeer
):
    await add_agent(hub, EMAIL, name="Maria")
    await deliver(hub, customer_mail("Where is my parcel?"))
    page = await context.new_page()
    problems = watch(page)
    await open_inbox(page, server)
    await page.get_by_test_id("conversation-item").click()

    await page.get_by_test_id("reply-text").fill("It left our warehouse today.")
    await page.get_by_test_id("reply-send").click()
    sent = message(page, "It left our warehouse today.")
    await expect(sent.locator(".message-status")).to_have_text("queued")
    await hub.outbox.run_due()
    await expect(sent).to_have_attribute("data-receipt", "sent")  # one tick: no receipts here
    await expect(sent.locator(".message-status")).to_have_attribute("aria-label", "Sent")
    assert [m.rcpt_tos for m in relay.received] == [["lena@example.org"]]

    relay.answer_rcpt("550 5.1.1 <lena@example.org>: mailbox unavailable")
    await page.get_by_test_id("reply-text").fill("One more thing.")
    await page.get_by_test_id("reply-send").click()
    refused = message(page, "One more thing.")
    await expect(refused.locator(".message-status")).to_have_text("queued")
    await hub.outbox.run_due()
    await expect(refused).to_have_attribute("data-status", "failed")
    await expect(refused.locator(".message-status")).to_contain_text("failed: ")
    await expect(refused.locator(".message-status")).to_contain_text("mailbox unavailable")
    preview = page.get_by_test_id("conversation-preview")
    await expect(preview).to_have_text("You: One more thing.")
    assert not problems, problems


async def test_a_mail_reusing_a_message_id_is_shown_and_marked(
    hub: Hub, server: TestServer, context: BrowserContext
) -> None:
    await add_agent(hub, EMAIL, name="Maria")
    first = customer_mail("The first order, 1234.")
    again = customer_mail("Another order, 5678.")
    again.replace_header("Message-ID", first["Message-ID"])
    await deliver(hub, first)
    await deliver(hub, again)
    page = await context.new_page()
    await open_inbox(page, server)
    await page.get_by_test_id("conversation-item").first.click()
    await expect(
        message(page, "Another order, 5678.").get_by_test_id("reused-id-note")
    ).to_have_text(
        "Came with the Message-ID of an earlier, different mail: kept as a message of its own"
    )
    await expect(page.get_by_test_id("reused-id-note")).to_have_count(1)
