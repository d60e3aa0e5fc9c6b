"""Mail whose From failed authentication, in the inbox in real Chromium: shown with a warning that
it is kept apart from that address's customer; the customer's own mail has none."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, expect

from hub.app import Hub
from tests.support.dns import DkimKey
from tests.support.hubs import add_agent
from tests.support.smtp import SmtpPeer
from tests.test_email_authentication import (
    deliver,
    lena_mail,
    lenas_domain,
    listening_hub,
    received,
)
from tests.test_inbox_browser import EMAIL, conversation_item, message, open_inbox


@pytest.fixture(scope="module")
def lenas_key() -> DkimKey:
    return DkimKey.generate("example.org")


@pytest.fixture
async def hub(database_url: str, relay: SmtpPeer, lenas_key: DkimKey) -> AsyncIterator[Hub]:
    async with listening_hub(database_url, relay, lenas_domain(lenas_key)) as hub:
        yield hub


async def test_mail_that_failed_authentication_is_shown_with_a_warning(
    hub: Hub, server: TestServer, context: BrowserContext, lenas_key: DkimKey
):
    await add_agent(hub, EMAIL, name="Maria")
    await deliver(hub, lenas_key.sign(lena_mail("Where is my parcel?")))
    await deliver(hub, lena_mail("Please send my order to Elm Street 5 instead."))
    proven, forged = await received(hub)
    page = await context.new_page()
    await open_inbox(page, server)
    await conversation_item(page, forged.conversation_id).click()
    warning = message(page, "Elm Street 5").get_by_test_id("auth-warning")
    await expect(warning).to_have_text(
        "Sender not verified (dmarc=fail dkim=none spf=fail): "
        "this mail is kept apart from lena@example.org's customer"
    )
    await conversation_item(page, proven.conversation_id).click()
    await expect(message(page, "Where is my parcel?")).to_be_visible()
    await expect(page.get_by_test_id("auth-warning")).to_have_count(0)
