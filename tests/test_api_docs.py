"""docs/api.md's examples hold against a real hub: the inbound request it shows is taken,
and its signature check accepts the hub's real callback and refuses a forged one."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from tests.conftest import API_TOKEN, ENVIRON
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, queue_reply, started_hub
from tests.support.peers import RecordingPeer

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


async def test_the_documented_inbound_request_is_taken(server: TestServer) -> None:
    curl = next(block for block in fenced("sh") if "/channels/sms/messages" in block)
    body = json.loads(re.search(r"-d '(.*?)'", curl, re.S).group(1))
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    url = server.make_url("/channels/sms/messages")
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as first:
            assert (first.status, sorted(await first.json())) == (
                202,
                ["conversation_id", "duplicate", "id"],
            )
        async with session.post(url, json=body, headers=headers) as again:
            assert (again.status, (await again.json())["duplicate"]) == (200, True)


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
async def signing_hub(database_url: str, peer: RecordingPeer) -> AsyncIterator[Hub]:
    """An API channel that signs its callbacks, on a clock at the real time (the documented
    check refuses old timestamps)."""
    sms = {
        "kind": "api",
        "name": "sms",
        "token_env": "SMS_TOKEN",
        "callback_url": peer.url("/replies"),
        "callback_secret_env": "SMS_CALLBACK_SECRET",
    }
    settings = Settings.model_validate(
        {"database": {"url": database_url}, "channels": [sms]}, context={"environ": ENVIRON}
    )
    async with started_hub(settings, FakeClock(datetime.now(UTC))) as hub:
        yield hub


def documented_check() -> Callable[[bytes, dict[str, str], bytes], bool]:
    (example,) = [block for block in fenced("python") if "X-Hub-Signature" in block]
    scope: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), scope)
    return scope["callback_is_from_the_hub"]


async def test_the_documented_signature_check_accepts_the_real_callback(signing_hub, peer):
    agent_id = await add_agent(signing_hub, "maria@example.com")
    written = await signing_hub.ingest(
        InboundMessage(channel="sms", external_id="1", sender=Address("phone", "+4415"), text="?")
    )
    reply_id = await queue_reply(
        signing_hub, agent_id, written.conversation_id, "Yes, it left today."
    )
    assert await signing_hub.outbox.run_due() == 1
    (callback,) = peer.received
    assert json.loads(callback.body) == {
        "message_id": reply_id,
        "conversation_id": written.conversation_id,
        "to": "+4415",
        "text": "Yes, it left today.",
    }
    is_from_the_hub = documented_check()
    secret = ENVIRON["SMS_CALLBACK_SECRET"].encode()
    assert is_from_the_hub(secret, callback.headers, callback.body)
    assert not is_from_the_hub(secret, callback.headers, callback.body.replace(b"today", b"never"))
    assert not is_from_the_hub(b"another secret", callback.headers, callback.body)
    stale = {
        **callback.headers,
        "X-Hub-Timestamp": str(int(callback.headers["X-Hub-Timestamp"]) - 3600),
    }
    assert not is_from_the_hub(secret, stale, callback.body)
