"""Replies with files, through the API to a local Graph API: the upload, the reply naming
it, WhatsApp's media upload and the message of the file's kind with its caption, the
limits (the hub's and WhatsApp's per kind), a channel that sends no files, and a retry
that neither uploads nor sends a file twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, update

from hub.app import Hub
from hub.db.schema import attachments, messages, outbox
from hub.outbox_claims import claim_due
from tests import test_whatsapp
from tests.support.clock import FakeClock
from tests.support.hubs import signed_in_team, started_hub
from tests.support.replies import message_state, stored
from tests.support.twilio_api import incoming_sms
from tests.support.uploads import upload
from tests.support.whatsapp_api import FakeGraphApi, Uploaded, incoming_text, too_many_requests
from tests.test_twilio import text_in
from tests.test_whatsapp import (
    LENA,
    TEMPLATE,
    conversation_of_lena,
    sign_in_again,
    whatsapp_settings,
    write_in,
)

client, graph, team = test_whatsapp.client, test_whatsapp.graph, test_whatsapp.team

PHOTO = b"\xff\xd8\xff\xe0" + b"a small jpeg" * 10
INVOICE = b"%PDF-1.7\n" + b"an invoice" * 10
MB = 1024 * 1024


@pytest.fixture
async def hub(
    database_url: str, clock: FakeClock, graph: FakeGraphApi, request: pytest.FixtureRequest
) -> AsyncIterator[Hub]:
    """The WhatsApp and SMS hub; ``http`` settings through indirect parametrize."""
    settings = whatsapp_settings(database_url, graph.base_url, reengagement_template=TEMPLATE)
    http = getattr(request, "param", {})
    settings = settings.model_copy(update={"http": settings.http.model_copy(update=http)})
    async with started_hub(settings, clock) as hub:
        yield hub


async def send_reply(team, conversation: int, body: dict[str, Any], expect: int = 202) -> Any:
    return await team["admin"].post(f"/api/conversations/{conversation}/replies", body, expect)


async def replies_stored(hub: Hub) -> tuple[int, int]:
    """Outbound messages and outbox rows."""

    def read(conn: Any) -> tuple[int, int]:
        out = conn.execute(
            select(func.count()).select_from(messages).where(messages.c.direction == "out")
        ).scalar()
        return out, conn.execute(select(func.count()).select_from(outbox)).scalar()

    return await hub.db.read(read)


async def test_a_picture_leaves_as_an_image_with_the_text_as_its_caption(
    hub, server, client, clock, team, graph
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, "photo.jpg", PHOTO, "image/jpeg")
    assert uploaded == {
        "id": uploaded["id"],
        "name": "photo.jpg",
        "content_type": "image/jpeg",
        "size": len(PHOTO),
    }
    sent = await send_reply(
        team, conversation, {"text": "So sieht es aus", "attachment_ids": [uploaded["id"]]}
    )
    assert sent["meta"]["attachments"] == [
        {"name": "photo.jpg", "content_type": "image/jpeg", "size": len(PHOTO), "stored": True}
    ]
    assert await hub.outbox.run_due() == 1
    [media] = graph.uploads
    assert media == Uploaded(media.media_id, "image/jpeg", "photo.jpg", "image/jpeg", PHOTO)
    [call] = graph.sent
    assert (call["type"], call["image"], call["to"]) == (
        "image",
        {"id": media.media_id, "caption": "So sieht es aus"},
        LENA,
    )
    assert "text" not in call
    state, _, meta = await message_state(hub, sent["id"])
    assert (state, meta["delivery_id"], meta["media_ids"]) == (
        "sent",
        call["wamid"],
        [media.media_id],
    )
    download = f"/api/messages/{sent['id']}/attachments/0"
    async with team["admin"].session.get(team["admin"].url(download)) as response:
        assert (response.status, await response.read()) == (200, PHOTO)


async def test_a_document_keeps_its_filename_and_a_long_text_leaves_before_it(
    hub, server, client, clock, team, graph
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, "C:\\Belege\\Rechnung 7.pdf", INVOICE)
    assert (uploaded["name"], uploaded["content_type"]) == ("Rechnung 7.pdf", "application/pdf")
    text = "Ihre Rechnung. " * 100
    await send_reply(team, conversation, {"text": text, "attachment_ids": [uploaded["id"]]})
    await hub.outbox.run_due()
    words, document = graph.sent
    assert (words["type"], words["text"]["body"]) == ("text", text.strip())
    [media] = graph.uploads
    assert (document["type"], document["document"]) == (
        "document",
        {"id": media.media_id, "filename": "Rechnung 7.pdf"},
    )


async def test_a_file_alone_leaves_without_a_text(hub, server, client, clock, team, graph):
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, "voice.ogg", b"OggS" + b"\0" * 50)
    await send_reply(team, conversation, {"text": "", "attachment_ids": [uploaded["id"]]})
    await hub.outbox.run_due()
    [call] = graph.sent
    assert (call["type"], call["audio"]) == ("audio", {"id": graph.uploads[0].media_id})


async def test_a_file_too_large_for_whatsapp_is_refused_naming_it_and_the_limit(
    hub, server, client, clock, team, graph
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    large = b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * MB - 8)
    uploaded = await upload(team["admin"], conversation, "plan.png", large, "image/png")
    answer = await send_reply(
        team, conversation, {"text": "Der Plan", "attachment_ids": [uploaded["id"]]}, 413
    )
    reason = (
        "plan.png cannot go by channel whatsapp: it is 6 MB and WhatsApp sends image files "
        "up to 5 MB"
    )
    assert answer == {"error": reason, "problems": [{"field": "attachment_ids", "reason": reason}]}
    assert await replies_stored(hub) == (0, 0)
    assert graph.uploads == []


async def test_after_the_window_the_template_goes_and_the_agent_is_told_the_files_did_not(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    clock.advance(hours=25)
    await sign_in_again(team, browser_factory)
    photo = await upload(team["admin"], conversation, "photo.jpg", PHOTO, "image/jpeg")
    sent = await send_reply(team, conversation, {"text": "Hier", "attachment_ids": [photo["id"]]})
    await hub.outbox.run_due()
    assert ([c["type"] for c in graph.sent], graph.uploads) == (["template"], [])
    _, _, meta = await message_state(hub, sent["id"])
    assert meta["sent_instead"] == (
        "the template reopen_conversation (de): the customer's 24-hour window closed at "
        "2026-03-03 09:00 UTC; 1 file not sent (a template has none)"
    )


@pytest.mark.parametrize(
    ("name", "data", "declared"),
    [
        ("orders.csv", b"id,total\n7,19.90\n", "text/csv"),
        ("smile.gif", b"GIF89a" + b"\0" * 20, "image/gif"),
        ("archive.bin", b"\0\1\2\3", "application/octet-stream"),
    ],
)
async def test_a_file_of_a_type_whatsapp_does_not_send_is_refused_naming_it(
    hub, server, client, clock, team, graph, name, data, declared
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, name, data, declared)
    answer = await send_reply(
        team, conversation, {"text": "Anbei", "attachment_ids": [uploaded["id"]]}, 422
    )
    reason = (
        f"{name} cannot go by channel whatsapp: WhatsApp does not send {declared} files, only "
        "JPEG and PNG pictures, MP4 and 3GPP videos, AAC, AMR, MP3, MP4 and OGG audio, "
        "and PDF, plain text and Word, Excel and PowerPoint documents"
    )
    assert answer["problems"] == [{"field": "attachment_ids", "reason": reason}]
    assert await replies_stored(hub) == (0, 0)
    assert graph.uploads == []


async def test_a_queued_file_whatsapp_does_not_send_fails_the_reply_before_anything_leaves(
    hub, server, client, clock, team, graph
):
    """A reply queued before WhatsApp's types were checked (or by an older hub) fails with
    the reason at send time rather than being refused by Meta after its text left."""
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, "photo.jpg", PHOTO, "image/jpeg")
    sent = await send_reply(
        team, conversation, {"text": "Bitte", "attachment_ids": [uploaded["id"]]}
    )
    await hub.db.write(
        lambda tx: tx.conn.execute(
            update(attachments)
            .where(attachments.c.id == uploaded["id"])
            .values(content_type="image/gif")
        )
    )
    await hub.outbox.run_due()
    state, error, _ = await message_state(hub, sent["id"])
    assert (state, graph.uploads, graph.sent) == ("failed", [], [])
    assert error.startswith("photo.jpg: WhatsApp does not send image/gif files, only JPEG")


async def test_a_2xx_that_is_not_json_is_retried_from_where_the_reply_got(
    hub, server, client, clock, team, graph, caplog
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, "Rechnung.pdf", INVOICE)
    text = "Ihre Rechnung. " * 100
    sent = await send_reply(team, conversation, {"text": text, "attachment_ids": [uploaded["id"]]})
    graph.errors.extend([None, "<html>Gateway says hello</html>"])
    with caplog.at_level(logging.INFO):
        await hub.outbox.run_due()
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error) == ("queued", "WhatsApp answered HTTP 200 without JSON")
    assert meta["parts_sent"] == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "expected, no traceback"
    clock.advance(seconds=20)
    await hub.outbox.run_due()
    assert [c["type"] for c in graph.sent] == ["text", "document"], "the text went once"
    assert len(graph.uploads) == 1, "the file was uploaded once"
    assert (await message_state(hub, sent["id"]))[0] == "sent"


@pytest.mark.parametrize("hub", [{"max_upload_bytes": 1024}], indirect=True)
async def test_a_file_over_the_hubs_upload_limit_is_refused_naming_it(
    hub, server, client, clock, team
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    answer = await upload(team["admin"], conversation, "scan.pdf", INVOICE * 20, expect=413)
    assert answer["error"] == (
        "scan.pdf is larger than 1 KB, the largest file the hub takes (http.max_upload_bytes)"
    )
    assert (
        await hub.db.read(
            lambda conn: conn.execute(select(func.count()).select_from(attachments)).scalar()
        )
        == 0
    )


async def test_an_upload_no_reply_took_is_gone_a_day_later(
    hub, server, client, clock, team, browser_factory
):
    """Whichever conversation the next upload is for: one in another conversation goes too."""
    conversation = await conversation_of_lena(hub, server, client, clock)
    await write_in(client, server, incoming_text("4917098765432", "Ich bin Jonas", clock.now()))
    other = (await stored(hub))[-1]["conversation_id"]
    assert other != conversation
    await upload(team["admin"], conversation, "old.pdf", INVOICE)
    await upload(team["admin"], other, "elsewhere.pdf", INVOICE)
    clock.advance(hours=23)
    await sign_in_again(team, browser_factory)
    await upload(team["admin"], conversation, "newer.pdf", INVOICE)
    clock.advance(hours=2)
    await sign_in_again(team, browser_factory)
    await upload(team["admin"], conversation, "new.pdf", INVOICE)

    def names(conn: Any) -> list[str]:
        return list(conn.execute(select(attachments.c.name).order_by(attachments.c.id)).scalars())

    assert await hub.db.read(names) == ["newer.pdf", "new.pdf"]


async def test_bad_uploads_are_refused_with_the_problem(hub, server, client, clock, team):
    conversation = await conversation_of_lena(hub, server, client, clock)
    admin = team["admin"]
    lying = await upload(admin, conversation, "x.png", b"not a picture", "image/png", 422)
    assert (
        lying["error"] == "invalid input: file: x.png is declared image/png but its content is not"
    )
    empty = await upload(admin, conversation, "empty.txt", b"", "text/plain", 422)
    assert empty["error"] == "invalid input: file: empty.txt is empty"
    named = await upload(admin, conversation, "..\\../.\u202etxt.exe", b"hi", "text/plain")
    assert (named["name"], named["content_type"]) == ("txt.exe", "text/plain")
    status, body = await admin.call(
        "POST", f"/api/conversations/{conversation}/uploads", {"file": "x"}
    )
    assert status == 415
    assert body["error"] == (
        "send the file as multipart/form-data (a part named file), not application/json"
    )
    form = aiohttp.FormData()
    form.add_field("document", b"hi", filename="x.txt")
    url = admin.url(f"/api/conversations/{conversation}/uploads")
    async with admin.session.post(url, data=form, headers=admin.headers()) as response:
        assert (response.status, (await response.json())["error"]) == (
            422,
            "invalid input: file: no part named file in the form",
        )
    unknown = await send_reply(team, conversation, {"text": "x", "attachment_ids": [999]}, 422)
    assert unknown["error"] == (
        "invalid input: attachment_ids: no unsent upload of this conversation has id 999"
    )
    nothing = await send_reply(team, conversation, {"text": " "}, 422)
    assert (nothing["error"], nothing["problems"]) == (
        "invalid input: text: write a text or attach a file",
        [{"field": "text", "reason": "write a text or attach a file"}],
    )
    uploaded = await upload(admin, conversation, "photo.jpg", PHOTO, "image/jpeg")
    twice = {"text": "x", "attachment_ids": [uploaded["id"], uploaded["id"]]}
    duplicate = await send_reply(team, conversation, twice, 422)
    assert (duplicate["error"], duplicate["problems"]) == (
        "invalid input: attachment_ids: names a file twice",
        [{"field": "attachment_ids", "reason": "names a file twice"}],
    )


@pytest.mark.parametrize("declared", ["application/octet-stream", "message/rfc822"])
async def test_a_file_named_as_a_container_type_is_a_file_of_unknown_type(
    hub, server, client, clock, team, declared
):
    """Neither the declared type nor the extension's guess makes a file message/* or
    multipart/*: email would attach those base64-encoded, which RFC 2046 forbids."""
    conversation = await conversation_of_lena(hub, server, client, clock)
    uploaded = await upload(team["admin"], conversation, "x.eml", b"From: a@b\r\n\r\nhi", declared)
    assert uploaded["content_type"] == "application/octet-stream"


async def test_a_channel_that_cannot_send_files_refuses_the_reply_naming_it(
    hub, server, client, clock, team, graph
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    await text_in(client, server, incoming_sms(LENA, "und per SMS"))
    uploaded = await upload(team["admin"], conversation, "photo.jpg", PHOTO, "image/jpeg")
    answer = await send_reply(
        team, conversation, {"text": "Hier", "attachment_ids": [uploaded["id"]]}, 422
    )
    assert answer["error"] == (
        "invalid input: attachment_ids: channel text cannot send files: send the text alone "
        "or reply on another"
    )
    assert await replies_stored(hub) == (0, 0)


async def test_a_retry_after_a_429_neither_uploads_nor_sends_a_file_twice(
    hub, server, client, clock, team, graph
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    photo = await upload(team["admin"], conversation, "photo.jpg", PHOTO, "image/jpeg")
    invoice = await upload(team["admin"], conversation, "invoice.pdf", INVOICE)
    graph.errors.extend([None, too_many_requests()])
    sent = await send_reply(
        team,
        conversation,
        {"text": "Foto und Rechnung", "attachment_ids": [photo["id"], invoice["id"]]},
    )
    await hub.outbox.run_due()
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, meta["parts_sent"]) == ("queued", 1)
    assert error == (
        "WhatsApp: too many requests (too many messages for the number's throughput "
        "(WhatsApp error 130429))"
    )
    assert [u.filename for u in graph.uploads] == ["photo.jpg", "invoice.pdf"]
    assert meta["media_ids"] == [u.media_id for u in graph.uploads]
    clock.advance(seconds=20)
    assert await hub.outbox.run_due() == 1
    assert [u.filename for u in graph.uploads] == ["photo.jpg", "invoice.pdf"], "no new upload"
    image, document = graph.sent
    assert image["image"] == {"id": graph.uploads[0].media_id, "caption": "Foto und Rechnung"}
    assert document["document"] == {"id": graph.uploads[1].media_id, "filename": "invoice.pdf"}
    assert (await message_state(hub, sent["id"]))[0] == "sent"


async def a_slow_upload_under_way(hub, server, client, clock, team, graph) -> asyncio.Task[int]:
    """A reply with a picture whose upload WhatsApp holds; the outbox pass sending it."""
    conversation = await conversation_of_lena(hub, server, client, clock)
    photo = await upload(team["admin"], conversation, "photo.jpg", PHOTO, "image/jpeg")
    await send_reply(team, conversation, {"text": "Foto", "attachment_ids": [photo["id"]]})
    graph.upload_gate = asyncio.Event()
    sending = asyncio.create_task(hub.outbox.run_due())
    await asyncio.wait_for(graph.upload_arrived.wait(), timeout=10)
    return sending


async def test_a_send_that_outlasts_its_lease_is_not_claimed_again_by_its_process(
    hub, server, client, clock, team, graph
):
    sending = await a_slow_upload_under_way(hub, server, client, clock, team, graph)
    clock.advance(seconds=hub.settings.outbox.lease_seconds + 1)
    assert await hub.outbox.run_due() == 0  # what the worker does when the lease runs out
    graph.upload_gate.set()
    assert await sending == 1
    assert (len(graph.uploads), [c["type"] for c in graph.sent]) == (1, ["image"])


@pytest.mark.parametrize("lease", [0.3])
async def test_a_long_send_keeps_its_lease_from_other_processes(
    database_url, clock, graph, server, client, browser_factory, lease
):
    settings = whatsapp_settings(database_url, graph.base_url, reengagement_template=TEMPLATE)
    outbox_settings = settings.outbox.model_copy(update={"lease_seconds": lease})
    settings = settings.model_copy(update={"outbox": outbox_settings})
    async with started_hub(settings, clock) as hub:
        team = await signed_in_team(hub, browser_factory)
        sending = await a_slow_upload_under_way(hub, server, client, clock, team, graph)
        clock.advance(seconds=10)  # long past the first lease

        def leased_until(conn: Any) -> Any:
            return conn.execute(select(outbox.c.lease_until)).scalar()

        for _ in range(100):  # the renewal runs every lease / 3 of real time
            if (await hub.db.read(leased_until)) > clock.now():
                break
            await asyncio.sleep(lease / 10)
        assert await hub.db.read(leased_until) > clock.now()
        another_process = await hub.db.write(partial(claim_due, timedelta(seconds=lease), 10))
        assert another_process == []
        graph.upload_gate.set()
        assert await sending == 1
    assert len(graph.uploads) == 1


async def test_merging_customers_moves_sent_and_unsent_files_with_the_conversation(
    hub, server, client, clock, team, graph
):
    """Both customers have an open conversation: the merged one's files, sent and unsent,
    join the kept one (a file still naming the deleted conversation failed the merge)."""
    kept = await conversation_of_lena(hub, server, client, clock)
    lena_customer = (await stored(hub))[-1]["customer_id"]
    await write_in(
        client, server, incoming_text("4917098765432", "Ich bin Lenas Mann", clock.now())
    )
    jonas = (await stored(hub))[-1]
    photo = await upload(team["admin"], jonas["conversation_id"], "photo.jpg", PHOTO, "image/jpeg")
    sent = await send_reply(
        team, jonas["conversation_id"], {"text": "Foto", "attachment_ids": [photo["id"]]}
    )
    await hub.outbox.run_due()
    unsent = await upload(team["admin"], jonas["conversation_id"], "invoice.pdf", INVOICE)
    merged = await team["admin"].post(
        f"/api/admin/customers/{lena_customer}/merge",
        {"merge_customer_id": jonas["customer_id"]},
        expect=200,
    )
    assert merged["open_conversation_id"] == kept
    download = f"/api/messages/{sent['id']}/attachments/0"
    async with team["admin"].session.get(team["admin"].url(download)) as response:
        assert (response.status, await response.read()) == (200, PHOTO)
    await send_reply(team, kept, {"text": "Rechnung", "attachment_ids": [unsent["id"]]})
