"""Logs: JSON lines for collectors, and nothing private at info level."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
from aiohttp.test_utils import TestServer

from config import Settings
from config.schema import LogSettings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.contact import DEFAULT_SCOPE, write_hours
from hub.logs import REQUEST_ID, Redactor, log_handler, secret_values
from tests.conftest import ENVIRON
from tests.support.hubs import PASSWORD
from tests.support.peers import Answer, RecordingPeer
from tests.test_metrics import SATURDAYS_ONLY
from tests.test_outbox import customer_writes, reply, sms_settings

BODY = "please keep my account number 99-1234 private"
BOT_TOKEN = "5550001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
RELAY_PASSWORD = "relay-password-9063"


def test_json_lines_carry_level_logger_message_and_extra_fields():
    stream = io.StringIO()
    logger = logging.getLogger("hub.test_json")
    logger.addHandler(log_handler(LogSettings(format="json"), stream))
    try:
        logger.warning("channel %s: retrying", "sms", extra={"channel": "sms", "attempt": 2})
    finally:
        logger.handlers.clear()
    line = json.loads(stream.getvalue())
    assert line["level"] == "WARNING"
    assert line["logger"] == "hub.test_json"
    assert line["message"] == "channel sms: retrying"
    assert (line["channel"], line["attempt"]) == ("sms", 2)
    assert "time" in line


def test_text_format_is_one_readable_line():
    stream = io.StringIO()
    logger = logging.getLogger("hub.test_text")
    logger.addHandler(log_handler(LogSettings(), stream))
    try:
        logger.error("outbox %d failed", 7)
    finally:
        logger.handlers.clear()
    assert stream.getvalue().rstrip().endswith("ERROR hub.test_text: outbox 7 failed")


def test_a_text_line_made_during_a_request_names_the_request():
    stream = io.StringIO()
    logger = logging.getLogger("hub.test_text")
    logger.addHandler(log_handler(LogSettings(), stream))
    token = REQUEST_ID.set("edge-7f3")
    try:
        logger.warning("outbox %d failed", 7)
    finally:
        REQUEST_ID.reset(token)
        logger.handlers.clear()
    assert stream.getvalue().rstrip().endswith("WARNING hub.test_text [edge-7f3]: outbox 7 failed")


def test_secrets_are_masked_in_arguments_and_traceback_from_any_logger():
    stream = io.StringIO()
    logger = logging.getLogger("somelibrary.client")
    redactor = Redactor([BOT_TOKEN, RELAY_PASSWORD])
    logger.addHandler(log_handler(LogSettings(), stream, redactor))
    try:
        try:
            raise ConnectionError(f"login as hub:{RELAY_PASSWORD} refused")
        except ConnectionError:
            logger.exception("POST %s failed", f"http://api.test/bot{BOT_TOKEN}/getMe")
    finally:
        logger.handlers.clear()
    logged = stream.getvalue()
    assert "POST http://api.test/bot[redacted]/getMe failed\nTraceback" in logged
    assert "ConnectionError: login as hub:[redacted] refused" in logged
    assert BOT_TOKEN not in logged
    assert RELAY_PASSWORD not in logged


def test_json_lines_are_masked_in_message_exception_and_extra_fields():
    stream = io.StringIO()
    logger = logging.getLogger("somelibrary.json")
    logger.addHandler(log_handler(LogSettings(format="json"), stream, Redactor([BOT_TOKEN])))
    refused = PermissionError(f"token {BOT_TOKEN} refused")
    try:
        logger.error(
            "bot %s: %d failures",
            BOT_TOKEN,
            3,
            exc_info=refused,
            extra={"url": f"https://api.test/bot{BOT_TOKEN}/getMe", "attempt": 2},
        )
    finally:
        logger.handlers.clear()
    line = json.loads(stream.getvalue())
    assert line["message"] == "bot [redacted]: 3 failures"
    assert line["exc_info"] == "PermissionError: token [redacted] refused"
    assert (line["url"], line["attempt"]) == ("https://api.test/bot[redacted]/getMe", 2)


def test_short_secrets_stay_readable_and_the_longest_match_is_masked_whole():
    redactor = Redactor(["abc12", "secret-one", "secret-one-longer"])
    assert redactor.mask("abc12 secret-one-longer secret-one.") == ("abc12 [redacted] [redacted].")


def test_every_secret_in_the_settings_is_found_wherever_it_is():
    environ = {
        "API_TOKEN": "api-token-1111",
        "API_CALLBACK": "api-callback-2222",
        "TG_TOKEN": BOT_TOKEN,
        "TG_HOOK": "tg-hook-3333",
        "SLACK_BOT": "xoxb-slack-4444",
        "SLACK_SIGNING": "abcdef0123456789abcdef",
        "SLACK_APP": "xapp-slack-5555",
        "IMAP_PASSWORD": "imap-password-6666",
        "SMTP_PASSWORD": RELAY_PASSWORD,
        "HUB_KEY": "hub-secret-key-7777",
    }
    settings = Settings.model_validate(
        {
            "database": {"url": "postgresql://hub:db-password-8888@127.0.0.1:5432/hub"},
            "secret_key_env": "HUB_KEY",
            "channels": [
                {
                    "kind": "api",
                    "name": "crm",
                    "token_env": "API_TOKEN",
                    "callback_secret_env": "API_CALLBACK",
                },
                {
                    "kind": "telegram",
                    "name": "tg",
                    "token_env": "TG_TOKEN",
                    "webhook_secret_env": "TG_HOOK",
                },
                {
                    "kind": "slack",
                    "name": "slack",
                    "mode": "socket",
                    "bot_token_env": "SLACK_BOT",
                    "signing_secret_env": "SLACK_SIGNING",
                    "app_token_env": "SLACK_APP",
                },
                {
                    "kind": "email",
                    "name": "mail",
                    "address": "support@shop.example",
                    "imap": {
                        "host": "imap.shop.example",
                        "username": "support",
                        "password_env": "IMAP_PASSWORD",
                    },
                    "smtp_out": {
                        "host": "smtp.shop.example",
                        "username": "support",
                        "password_env": "SMTP_PASSWORD",
                    },
                },
            ],
        },
        context={"environ": environ},
    )
    assert sorted(secret_values(settings)) == sorted([*environ.values(), "db-password-8888"])


async def test_info_logs_name_no_bodies_and_no_secrets(caplog, database_url, clock):
    caplog.set_level(logging.INFO)
    async with RecordingPeer() as peer:
        hub = Hub(sms_settings(database_url, peer.url("/callback")), clock)
        await hub.start(run_workers=False)
        try:
            await exercise_everything(hub, peer)
        finally:
            await hub.stop()
    assert caplog.records, "the scenario logs something at info level"
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for private in (BODY, "99-1234", PASSWORD, *ENVIRON.values()):
        assert private not in logged


async def exercise_everything(hub: Hub, peer: RecordingPeer) -> None:
    """Sign-in, a message in, a reply out and a failed one, a held message, quarantine."""
    server = TestServer(hub.web_app(), host="127.0.0.1")
    await server.start_server()
    try:
        agent, conversation_id = await customer_writes(hub, BODY)
        async with aiohttp.ClientSession() as session:
            await session.post(
                server.make_url("/api/login"),
                json={"email": "maria@example.com", "password": PASSWORD},
            )
            await session.post(
                server.make_url("/api/login"),
                json={"email": "maria@example.com", "password": PASSWORD + "-wrong"},
            )
        await reply(hub, agent, conversation_id, BODY)
        await hub.outbox.run_due()
        peer.answer(Answer(400, {"error": BODY}))
        await reply(hub, agent, conversation_id, BODY)
        await hub.outbox.run_due()
        await hub.db.write(lambda tx: write_hours(tx, DEFAULT_SCOPE, "", SATURDAYS_ONLY))
        await hub.ingest(
            InboundMessage(
                channel="sms", external_id="in-2", sender=Address("phone", "+4915100"), text=BODY
            )
        )
        await hub.quarantine("sms", BODY.encode(), "not understood")
    finally:
        await server.close()
