"""Files in the inbox's reply box, in a real Chromium: attached with the file picker,
listed and removable, sent with the reply (WhatsApp gets the picture with the text as
its caption), shown under the sent reply with a download link; a channel that cannot
send files says so in the reply's error line."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, Route, expect

from hub.app import Hub
from tests import test_whatsapp_browser
from tests.support.chromium import save_screenshot
from tests.support.clock import FakeClock
from tests.support.replies import stored
from tests.support.twilio_api import incoming_sms
from tests.support.whatsapp_api import FakeGraphApi, incoming_text
from tests.test_inbox_browser import message, open_conversation, open_inbox
from tests.test_twilio import text_in
from tests.test_whatsapp import LENA, LENA_WA, write_in
from tests.test_whatsapp_browser import lena_wrote_and_is_open

graph, hub, page, client = (
    test_whatsapp_browser.graph,
    test_whatsapp_browser.hub,
    test_whatsapp_browser.page,
    test_whatsapp_browser.client,
)
PHOTO = b"\xff\xd8\xff\xe0" + b"a small jpeg" * 100
NOTES = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not this one"}


async def test_a_file_attached_in_the_reply_box_leaves_and_shows_under_the_reply(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    conversation_id = await lena_wrote_and_is_open(
        hub, server, page, client, "Wie sieht es aus?", clock.now()
    )
    photo = {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": PHOTO}
    await page.get_by_test_id("reply-file").set_input_files([photo, NOTES])
    chosen = page.get_by_test_id("reply-file-item")
    await expect(chosen).to_have_count(2)
    await expect(chosen.first).to_contain_text("photo.jpg")
    await expect(chosen.first.locator(".file-size")).to_have_text("1 KB")
    await page.get_by_test_id("reply-text").fill("Intern: Foto von Lena")
    await page.get_by_test_id("note-send").click()
    await expect(page.locator("#reply-error")).to_have_text(
        "Files go with replies, not notes: send a reply."
    )
    await expect(chosen).to_have_count(2)
    await chosen.filter(has_text="notes.txt").get_by_test_id("reply-file-remove").click()
    await expect(chosen).to_have_count(1)
    await page.get_by_test_id("reply-text").fill("So sieht es aus")
    await save_screenshot(page, "inbox-reply-files")

    await page.get_by_test_id("reply-send").click()
    sent = message(page, "So sieht es aus")
    link = sent.get_by_test_id("message-files").get_by_role("link")
    await expect(link).to_have_text("photo.jpg (1 KB)")
    await expect(chosen).to_have_count(0)
    await expect(page.get_by_test_id("reply-files")).to_be_hidden()
    assert await hub.outbox.run_due() == 1
    [upload] = graph.uploads
    assert (upload.filename, upload.data) == ("photo.jpg", PHOTO)
    [call] = graph.sent
    assert call["image"] == {"id": upload.media_id, "caption": "So sieht es aus"}

    href = await link.get_attribute("href")
    downloaded = await page.request.get(f"{server.make_url(href or '')}")
    assert (downloaded.status, await downloaded.body()) == (200, PHOTO)
    await page.reload()
    await open_conversation(page, conversation_id)
    await expect(link).to_have_text("photo.jpg (1 KB)")


async def test_a_reply_waits_until_its_files_have_uploaded(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    await lena_wrote_and_is_open(hub, server, page, client, "Ein Foto?", clock.now())
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # a slow line: the upload waits for us

    await page.route("**/uploads", hold)
    photo = {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": PHOTO}
    async with page.expect_request("**/uploads"):
        await page.get_by_test_id("reply-file").set_input_files([photo])
    await page.get_by_test_id("reply-text").fill("Hier ist es")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("#reply-error")).to_have_text(
        "Wait until the files have uploaded, then send."
    )
    assert len(await stored(hub)) == 1, "nothing sent without the file"

    [upload] = held
    await upload.continue_()
    await expect(page.get_by_test_id("reply-file-item")).to_have_count(1)
    await page.get_by_test_id("reply-send").click()
    sent = message(page, "Hier ist es")
    await expect(sent.get_by_test_id("message-files").get_by_role("link")).to_have_text(
        "photo.jpg (1 KB)"
    )
    await expect(page.get_by_test_id("reply-file-item")).to_have_count(0)
    assert await hub.outbox.run_due() == 1
    assert [(u.filename, u.data) for u in graph.uploads] == [("photo.jpg", PHOTO)]


async def test_a_file_for_a_channel_that_cannot_send_it_is_refused_in_the_error_line(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
):
    await write_in(client, server, incoming_text(LENA_WA, "Wie sieht es aus?", clock.now()))
    conversation_id = (await stored(hub))[-1]["conversation_id"]
    await text_in(client, server, incoming_sms(LENA, "und per SMS"))
    await open_inbox(page, server)
    await open_conversation(page, conversation_id)
    await page.get_by_test_id("reply-file").set_input_files([NOTES])
    await expect(page.get_by_test_id("reply-file-item")).to_have_count(1)
    await page.get_by_test_id("reply-text").fill("Anbei")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("#reply-error")).to_contain_text(
        "channel text cannot send files: send the text alone or reply on another"
    )
    await expect(page.get_by_test_id("reply-file-item")).to_have_count(1)
    assert await hub.outbox.run_due() == 0
