"""Logs: JSON lines for collectors, and nothing private at info level."""

from __future__ import annotations

import io
import json
import logging

import aiohttp
from aiohttp.test_utils import TestServer

from config.schema import LogSettings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.contact import DEFAULT_SCOPE, write_hours
from hub.logs import log_handler
from tests.conftest import ENVIRON
from tests.support.hubs import PASSWORD
from tests.support.peers import Answer, RecordingPeer
from tests.test_metrics import SATURDAYS_ONLY
from tests.test_outbox import customer_writes, reply, sms_settings

BODY = "please keep my account number 99-1234 private"


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
