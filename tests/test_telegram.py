"""The Telegram channel, with the real python-telegram-bot against a local Bot API server."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from config import ConfigError, Settings, load_settings
from connectors.base import Address, AuthFailed, InboundMessage
from connectors.telegram.updates import MAX_MESSAGE_CHARS
from connectors.text_parts import split_text, utf16_length
from hub.app import Hub
from hub.auth import Principal
from hub.conversations import post_reply
from hub.db.schema import attachments, customers, identities, messages, quarantine
from tests.support.hubs import Browser, add_agent, started_hub
from tests.support.processes import free_port
from tests.support.telegram_api import (
    FakeBotApi,
    blocked,
    private_message,
    server_error,
    too_many_requests,
)
from tests.support.uploads import upload
from tests.test_admin_api import running
from tests.test_hostile_input import token_for

TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs"
HOOK_SECRET = "hook-secret_42"
ENVIRON = {"TG_TOKEN": TOKEN, "TG_HOOK_SECRET": HOOK_SECRET}
CUSTOMER = 777001


def telegram_settings(database_url: str, base_url: str, **channel: Any) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "http": {"public_url": "https://hub.example/"},
            "outbox": {"base_delay_seconds": 10},
            "channels": [
                {
                    "kind": "telegram",
                    "name": "tg",
                    "token_env": "TG_TOKEN",
                    "webhook_secret_env": "TG_HOOK_SECRET",
                    "base_url": base_url,
                    "poll_seconds": 1,
                    **channel,
                }
            ],
        },
        context={"environ": ENVIRON},
    )


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TOKEN) as api:
        yield api


@pytest.fixture
async def hub(database_url, clock, bot_api) -> AsyncIterator[Hub]:
    """A hub with one Telegram channel in webhook mode (also behind ``server``)."""
    async with started_hub(telegram_settings(database_url, bot_api.base_url), clock) as hub:
        yield hub


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post_update(
    client: aiohttp.ClientSession,
    server: TestServer,
    update: dict,
    secret: str | None = HOOK_SECRET,
) -> tuple[int, dict]:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with client.post(
        server.make_url("/telegram/tg/webhook"), json=update, headers=headers
    ) as response:
        return response.status, await response.json()


async def stored(hub: Hub) -> list[dict]:
    def read(conn):
        rows = conn.execute(
            select(messages.c.external_id, messages.c.text, messages.c.meta)
            .where(messages.c.channel == "tg", messages.c.direction == "in")
            .order_by(messages.c.id)
        )
        return [dict(row._mapping) for row in rows]

    return await hub.db.read(read)


async def until(condition) -> None:
    """Wait up to 10 s for a background worker (the poller) to reach ``condition``."""
    for _ in range(500):
        if await condition():
            return
        await asyncio.sleep(0.02)
    pytest.fail("condition not reached in 10 s")


# webhook


async def test_start_sets_the_webhook_with_the_secret_and_the_public_url(hub, bot_api):
    async def set_once() -> bool:
        return bool(bot_api.called("setWebhook"))

    await until(set_once)
    assert bot_api.called("setWebhook") == [
        {
            "url": "https://hub.example/telegram/tg/webhook",
            "secret_token": HOOK_SECRET,
            "allowed_updates": ["message", "edited_message"],
        }
    ]


async def test_webhook_with_the_right_secret_stores_the_message(hub, server, client):
    status, body = await post_update(client, server, private_message(1001, 11))
    assert (status, body) == (200, {"ok": True, "stored": True})
    [message] = await stored(hub)
    assert message["external_id"] == f"{CUSTOMER}:11"
    assert message["text"] == "Hello, my order has not arrived"
    assert message["meta"]["username"] == "ada_l"
    sender = await hub.db.read(
        lambda conn: conn.execute(
            select(identities.c.kind, identities.c.address, customers.c.name).join(
                customers, customers.c.id == identities.c.customer_id
            )
        ).one()
    )
    assert tuple(sender) == ("telegram", str(CUSTOMER), "Ada Lovelace")


@pytest.mark.parametrize("secret", [None, "", "guess", HOOK_SECRET + "x"])
async def test_webhook_with_a_wrong_or_missing_secret_is_refused(hub, server, client, secret):
    status, body = await post_update(client, server, private_message(1001, 11), secret)
    assert status == 403
    assert "X-Telegram-Bot-Api-Secret-Token" in body["error"]
    assert await stored(hub) == []


async def test_a_repeated_update_is_stored_once(hub, server, client):
    update = private_message(1001, 11)
    first = await post_update(client, server, update)
    again = await post_update(client, server, update)
    assert first == (200, {"ok": True, "stored": True})
    assert again == (200, {"ok": True, "stored": False})
    assert len(await stored(hub)) == 1
    assert await hub.load_state("tg:update_id") == "1001"


async def test_group_chats_are_ignored(hub, server, client):
    update = private_message(1002, 12)
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Fans"}
    assert await post_update(client, server, update) == (200, {"ok": True, "stored": False})
    assert await stored(hub) == []


async def test_an_edit_is_stored_as_a_new_message_pointing_at_the_original(hub, server, client):
    await post_update(client, server, private_message(1001, 11, "Order 12"))
    edit = private_message(1002, 11, "Order 123", edit_date=1_772_442_060)
    edit["edited_message"] = edit.pop("message")
    await post_update(client, server, edit)
    original, edited = await stored(hub)
    assert edited["external_id"] == f"edit:{CUSTOMER}:11:1772442060"
    assert edited["text"] == "Order 123"
    assert edited["meta"]["edit_of"] == original["external_id"] == f"{CUSTOMER}:11"


async def test_photos_and_documents_are_stored_with_their_metadata(hub, server, client, bot_api):
    bot_api.files["doc-1"] = b"%PDF-1.4 invoice"
    update = private_message(
        1003,
        13,
        text=None,
        caption="my invoice",
        document={
            "file_id": "doc-1",
            "file_unique_id": "d1",
            "file_name": "invoice.pdf",
            "mime_type": "application/pdf",
            "file_size": 16,
        },
    )
    assert (await post_update(client, server, update))[1]["stored"] is True
    [message] = await stored(hub)
    assert message["text"] == "my invoice"
    assert message["meta"]["files"] == [
        {"file_id": "doc-1", "name": "invoice.pdf", "mime": "application/pdf", "size": 16}
    ]
    rows = await hub.db.read(
        lambda conn: conn.execute(select(attachments.c.name, attachments.c.data)).all()
    )
    assert [tuple(r) for r in rows] == [("invoice.pdf", b"%PDF-1.4 invoice")]


async def test_a_mime_type_with_a_line_break_is_stored_safe_and_the_file_downloads(
    hub, server, client, bot_api
):
    await add_agent(hub, "maria@example.com")
    bot_api.files["doc-2"] = b"%PDF-1.4 receipt"
    document = {
        "file_id": "doc-2",
        "file_unique_id": "d2",
        "file_name": "receipt.pdf",
        "mime_type": "application/pdf\r\nSet-Cookie: hub_session=stolen",
        "file_size": 16,
    }
    update = private_message(1004, 14, text=None, caption="receipt", document=document)
    assert (await post_update(client, server, update))[1]["stored"] is True
    maria = {"Authorization": f"Bearer {await token_for(server, 'maria@example.com')}"}
    async with client.get(server.make_url("/api/conversations"), headers=maria) as listed:
        [conversation] = await listed.json()
    path = f"/api/conversations/{conversation['id']}"
    async with client.get(server.make_url(path), headers=maria) as detail:
        [message] = (await detail.json())["messages"]
    assert message["meta"]["attachments"][0]["content_type"] == "application/octet-stream"
    assert message["meta"]["files"][0]["mime"] == "application/octet-stream"
    download = server.make_url(f"/api/messages/{message['id']}/attachments/0")
    async with client.get(download, headers=maria) as got:
        assert got.status == 200
        assert await got.read() == b"%PDF-1.4 receipt"
        assert got.headers["X-Original-Content-Type"] == "application/octet-stream"
        assert "Set-Cookie" not in got.headers
    await hub.db.write(  # as a hub that did not check content types stored it
        lambda tx: tx.conn.execute(
            sqlalchemy.update(attachments).values(content_type=document["mime_type"])
        )
    )
    async with client.get(download, headers=maria) as got:
        assert (got.status, await got.read()) == (200, b"%PDF-1.4 receipt")
        assert got.headers["X-Original-Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize("body", [b"not json", b"[" * 100_000 + b"]" * 100_000])
async def test_unparseable_updates_are_quarantined_not_refused(hub, server, client, body):
    async with client.post(
        server.make_url("/telegram/tg/webhook"),
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET},
    ) as response:
        assert response.status == 200
    assert await stored(hub) == []
    [reason] = await hub.db.read(lambda conn: conn.execute(select(quarantine.c.reason)).all())
    assert reason.reason.startswith("not a Telegram update")


# polling


async def test_polling_resumes_after_a_restart_from_the_stored_offset(database_url, clock, bot_api):
    settings = telegram_settings(database_url, bot_api.base_url, mode="polling")
    await bot_api.push_update(private_message(2001, 21, "first"))
    await bot_api.push_update(private_message(2002, 22, "second"))
    async with started_hub(settings, clock) as hub:

        async def two_stored() -> bool:
            return len(await stored(hub)) == 2 and await hub.load_state("tg:offset") == "2003"

        await until(two_stored)
        assert bot_api.called("deleteWebhook")
    await bot_api.push_update(private_message(2003, 23, "third, while the hub was down"))
    before = len(bot_api.calls)
    async with started_hub(settings, clock) as hub:

        async def three_stored() -> bool:
            return len(await stored(hub)) == 3

        await until(three_stored)
        polls = [c.params for c in bot_api.calls[before:] if c.method == "getUpdates"]
        assert polls[0]["offset"] == 2003
        texts = [m["text"] for m in await stored(hub)]
    assert texts == ["first", "second", "third, while the hub was down"]


async def test_polling_backs_off_after_a_server_error_then_continues(database_url, clock, bot_api):
    settings = telegram_settings(database_url, bot_api.base_url, mode="polling")
    bot_api.script("getUpdates", server_error())
    await bot_api.push_update(private_message(3001, 31))
    async with started_hub(settings, clock) as hub:

        async def one_stored() -> bool:
            return len(await stored(hub)) == 1

        await until(one_stored)
    assert len(bot_api.called("getUpdates")) >= 2


REFUSE_OFFSETS = {
    "sqlite": [
        "CREATE TRIGGER refuse_offset BEFORE INSERT ON hub_state"
        " WHEN NEW.key = 'connector:tg:offset' BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_offset() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.key = 'connector:tg:offset' THEN RAISE EXCEPTION 'disk full'; END IF;"
        " RETURN NEW; END $$",
        "CREATE TRIGGER refuse_offset BEFORE INSERT ON hub_state"
        " FOR EACH ROW EXECUTE FUNCTION refuse_offset()",
    ],
}
ACCEPT_OFFSETS = {
    "sqlite": ["DROP TRIGGER refuse_offset"],
    "postgresql": ["DROP TRIGGER refuse_offset ON hub_state", "DROP FUNCTION refuse_offset()"],
}


async def run_sql(hub: Hub, statements: dict[str, list[str]]) -> None:
    def run(tx) -> None:
        for statement in statements[hub.db.dialect]:
            tx.conn.execute(sqlalchemy.text(statement))

    await hub.db.write(run)


async def test_a_polled_message_is_not_kept_when_its_offset_cannot_be(
    database_url, clock, bot_api, caplog
):
    settings = telegram_settings(database_url, bot_api.base_url, mode="polling")
    async with started_hub(settings, clock) as hub:
        await run_sql(hub, REFUSE_OFFSETS)
        try:
            await bot_api.push_update(private_message(4001, 41))

            async def failed() -> bool:
                return any(r.name.startswith("connectors.telegram") for r in caplog.records)

            await until(failed)
            assert await stored(hub) == [], "the message came without its offset"
        finally:
            await run_sql(hub, ACCEPT_OFFSETS)

        async def stored_with_offset() -> bool:
            return len(await stored(hub)) == 1 and await hub.load_state("tg:offset") == "4002"

        await until(stored_with_offset)


async def test_polling_with_a_refused_token_stops_with_one_error(
    database_url, clock, bot_api, caplog
):
    bot_api.token = "999:other"
    settings = telegram_settings(database_url, bot_api.base_url, mode="polling")
    async with started_hub(settings, clock) as hub:
        await until(halted(hub))
        await asyncio.sleep(0.2)  # what a poller that kept trying would do meanwhile
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [
        ("ERROR", "telegram tg: polling: Telegram refused the bot token (Unauthorized); stopped")
    ]


async def test_an_unreachable_bot_api_at_start_is_a_warning_naming_the_channel(
    database_url, clock, caplog
):
    settings = telegram_settings(
        database_url, f"http://127.0.0.1:{free_port()}/bot", mode="polling"
    )
    async with started_hub(settings, clock):

        async def warned() -> bool:
            return any(r.levelno == logging.WARNING for r in caplog.records)

        await until(warned)
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert warning.getMessage().startswith("telegram tg: polling: Telegram: ")
    assert "trying again in" in warning.getMessage()


async def test_a_refused_token_halts_the_channel_and_the_admin_console_says_why(
    database_url, clock, bot_api, client
):
    bot_api.token = "999:other"
    async with running(telegram_settings(database_url, bot_api.base_url), clock) as (hub, server):
        await until(halted(hub))
        await add_agent(hub, "root@example.com", role="admin")
        admin = {"Authorization": f"Bearer {await token_for(server, 'root@example.com')}"}
        async with client.get(server.make_url("/api/admin/channels"), headers=admin) as listed:
            [channel] = await listed.json()
    assert (channel["name"], channel["enabled"], channel["status"]) == ("tg", True, "stopped")
    assert channel["reason"] == "Telegram refused the bot token (Unauthorized)"


def halted(hub: Hub) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return hub.connectors["tg"].halted is not None

    return check


# replies


async def customer_conversation(hub: Hub) -> tuple[Principal, int]:
    agent_id = await add_agent(hub, "maria@example.com")
    result = await hub.ingest(
        InboundMessage(
            channel="tg",
            external_id=f"{CUSTOMER}:1",
            sender=Address("telegram", str(CUSTOMER)),
            text="hi",
        )
    )
    return Principal(agent_id, "Maria", "agent", "", False), result.conversation_id


async def reply(hub: Hub, text: str) -> int:
    agent, conversation_id = await customer_conversation(hub)
    message = await hub.db.write(
        partial(post_reply, agent, conversation_id, text, None, hub.channels_by_kind)
    )
    return message["id"]


async def state_of(hub: Hub, message_id: int) -> tuple[str, str | None, dict | None]:
    return await hub.db.read(
        lambda conn: tuple(
            conn.execute(
                select(messages.c.state, messages.c.error, messages.c.meta).where(
                    messages.c.id == message_id
                )
            ).one()
        )
    )


def sent_texts(bot_api: FakeBotApi) -> list[str]:
    """Texts of sendMessage calls that succeeded (scripted errors are not recorded as sent)."""
    return [c.params["text"] for c in bot_api.calls if c.method == "sendMessage"]


async def test_a_reply_is_sent_to_the_customer_chat(hub, bot_api):
    message_id = await reply(hub, "Your parcel left today.")
    assert await hub.outbox.run_due() == 1
    assert bot_api.called("sendMessage") == [
        {"chat_id": CUSTOMER, "text": "Your parcel left today."}
    ]
    state, error, meta = await state_of(hub, message_id)
    assert (state, error, meta["delivery_id"]) == ("sent", None, "500")


async def test_rate_limited_reply_waits_retry_after_then_is_delivered_once(hub, bot_api, clock):
    bot_api.script("sendMessage", too_many_requests(retry_after=1))
    message_id = await reply(hub, "Thanks, we are on it.")
    await hub.outbox.run_due()
    state, error, _ = await state_of(hub, message_id)
    assert (state, error) == ("queued", "Telegram: too many requests, retry after 1 s")
    clock.advance(seconds=0.5)
    assert await hub.outbox.run_due() == 0
    clock.advance(seconds=0.5)
    assert await hub.outbox.run_due() == 1
    assert (await state_of(hub, message_id))[0] == "sent"
    assert len(bot_api.called("sendMessage")) == 2  # one refused, one delivered
    assert bot_api.scripted["sendMessage"] == []


async def test_a_blocked_bot_marks_the_reply_failed_with_the_reason(hub, bot_api, clock):
    bot_api.script("sendMessage", blocked())
    message_id = await reply(hub, "Hello?")
    await hub.outbox.run_due()
    state, error, _ = await state_of(hub, message_id)
    assert (state, error) == ("failed", "Telegram: Forbidden: bot was blocked by the user")
    clock.advance(hours=1)
    assert await hub.outbox.run_due() == 0


def long_reply() -> str:
    paragraph = ("All parts of your order are on their way. " * 10).strip()
    return "\n\n".join(f"{n}. {paragraph}" for n in range(12))  # about 5,000 characters


async def test_a_5000_character_reply_arrives_as_two_messages_in_order(hub, bot_api):
    text = long_reply()
    assert 4096 < len(text) < 6000
    message_id = await reply(hub, text)
    await hub.outbox.run_due()
    first, second = sent_texts(bot_api)
    assert len(first) <= 4096
    assert len(second) <= 4096
    assert first.startswith("0. ")
    assert second.endswith("on their way.")
    assert f"{first}\n\n{second}" == text  # cut at a paragraph boundary
    state, _, meta = await state_of(hub, message_id)
    assert (state, meta["delivery_id"]) == ("sent", "500")


async def test_a_retry_after_part_one_was_sent_never_sends_it_again(hub, bot_api, clock):
    bot_api.script("sendMessage", None, too_many_requests(retry_after=1))
    message_id = await reply(hub, long_reply())
    await hub.outbox.run_due()
    state, _, meta = await state_of(hub, message_id)
    assert (state, meta["delivery_id"], meta["parts_sent"]) == ("queued", "500", 1)
    clock.advance(seconds=1)
    await hub.outbox.run_due()
    calls = sent_texts(bot_api)
    assert len(calls) == 3  # part 1, part 2 refused, part 2 again
    assert calls[1] == calls[2] != calls[0]
    state, _, meta = await state_of(hub, message_id)
    assert (state, meta["delivery_id"]) == ("sent", "500")


async def test_test_connection_asks_get_me(hub, bot_api):
    assert await hub.connectors["tg"].test_connection() == "bot @shop_support_bot ready"
    assert bot_api.called("getMe") == [{}]


async def test_a_refused_token_is_reported_without_showing_it(database_url, clock, bot_api):
    bot_api.token = "999:other"
    async with started_hub(telegram_settings(database_url, bot_api.base_url), clock) as hub:
        with pytest.raises(AuthFailed) as refused:
            await hub.connectors["tg"].test_connection()
    assert TOKEN not in refused.value.reason
    assert TOKEN.split(":")[1] not in refused.value.reason


# splitting


def test_split_prefers_paragraphs_then_lines_then_spaces():
    assert split_text("a" * 5 + "\n\n" + "b" * 5, limit=8) == ["aaaaa", "bbbbb"]
    assert split_text("a" * 5 + "\n" + "b" * 5, limit=8) == ["aaaaa", "bbbbb"]
    assert split_text("aaa bbb ccc", limit=8) == ["aaa bbb", "ccc"]
    assert split_text("x" * 20, limit=8) == ["x" * 8, "x" * 8, "x" * 4]


def test_split_counts_utf16_units_like_telegram():
    parts = split_text("😀" * 3000, MAX_MESSAGE_CHARS)
    assert len(parts) == 2
    assert all(utf16_length(p) <= 4096 for p in parts)
    assert "".join(parts) == "😀" * 3000


# configuration


def config_problems(tmp_path: Path, channel: str, environ: dict[str, str]) -> list[str]:
    path = tmp_path / "hub.yaml"
    path.write_text("channels:\n" + textwrap.indent(textwrap.dedent(channel), "  "))
    with pytest.raises(ConfigError) as error:
        load_settings(path, environ)
    return [str(p).split(": ", 1)[1] for p in error.value.problems]


def test_a_missing_token_variable_is_named(tmp_path):
    found = config_problems(
        tmp_path,
        """
        - kind: telegram
          name: tg
          token_env: TG_TOKEN
          mode: polling
        """,
        {},
    )
    assert found == ["channels[0].token_env: environment variable TG_TOKEN is not set"]


def test_a_malformed_token_is_refused_without_showing_it(tmp_path):
    found = config_problems(
        tmp_path,
        """
        - kind: telegram
          name: tg
          token_env: TG_TOKEN
          mode: polling
        """,
        {"TG_TOKEN": "not-a-bot-token-but-a-secret"},
    )
    assert found == [
        "channels[0].token_env: environment variable TG_TOKEN does not hold a bot token "
        "of the form <digits>:<secret> as BotFather gives it"
    ]
    assert not any("not-a-bot-token" in problem for problem in found)


def test_webhook_mode_needs_a_secret(tmp_path):
    found = config_problems(
        tmp_path,
        """
        - kind: telegram
          name: tg
          token_env: TG_TOKEN
        """,
        {"TG_TOKEN": TOKEN},
    )
    assert len(found) == 1
    assert "mode: webhook needs webhook_secret_env" in found[0]
    assert found[0].startswith("channels[0]")


@asynccontextmanager
async def bearer(server: TestServer, email: str) -> AsyncIterator[Browser]:
    """An API client with the agent's bearer token (the hub's https URL keeps cookies off)."""
    token = await token_for(server, email)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        yield Browser(server, session)


async def test_a_picture_over_the_photo_limit_goes_as_a_document(hub, server, bot_api):
    _, conversation_id = await customer_conversation(hub)
    async with bearer(server, "maria@example.com") as maria:
        large = b"\xff\xd8\xff\xe0" + b"\0" * (11 * 1024 * 1024)
        picture = await upload(maria, conversation_id, "scan.jpg", large, "image/jpeg")
        body = {"text": "Der Scan", "attachment_ids": [picture["id"]]}
        sent = await maria.post(f"/api/conversations/{conversation_id}/replies", body, expect=202)
        await hub.outbox.run_due()
        assert bot_api.called("sendPhoto") == []
        [document] = [c for c in bot_api.calls if c.method == "sendDocument"]
        assert document.files == {"document": ("scan.jpg", large)}
        assert document.params == {"chat_id": CUSTOMER, "caption": "Der Scan"}
        assert (await state_of(hub, sent["id"]))[0] == "sent"


async def test_files_go_as_a_photo_with_the_caption_and_a_document_each_once(
    hub, server, bot_api, clock
):
    _, conversation_id = await customer_conversation(hub)
    async with bearer(server, "maria@example.com") as maria:
        photo_bytes, invoice_bytes = b"\xff\xd8\xff\xe0 a jpeg", b"%PDF-1.7 an invoice"
        photo = await upload(maria, conversation_id, "photo.jpg", photo_bytes, "image/jpeg")
        invoice = await upload(maria, conversation_id, "Rechnung 7.pdf", invoice_bytes)
        bot_api.script("sendDocument", too_many_requests(retry_after=1))
        body = {"text": "Foto und Rechnung", "attachment_ids": [photo["id"], invoice["id"]]}
        sent = await maria.post(f"/api/conversations/{conversation_id}/replies", body, expect=202)
        await hub.outbox.run_due()
        state, _, meta = await state_of(hub, sent["id"])
        assert (state, meta["parts_sent"]) == ("queued", 1)
        clock.advance(seconds=1)
        assert await hub.outbox.run_due() == 1
        [picture] = [c for c in bot_api.calls if c.method == "sendPhoto"]
        assert picture.params == {"chat_id": CUSTOMER, "caption": "Foto und Rechnung"}
        assert picture.files == {"photo": ("photo.jpg", photo_bytes)}
        _refused, document = [c for c in bot_api.calls if c.method == "sendDocument"]
        assert document.files == {"document": ("Rechnung 7.pdf", invoice_bytes)}
        assert "caption" not in document.params
        assert bot_api.called("sendMessage") == []
        assert (await state_of(hub, sent["id"]))[0] == "sent"
