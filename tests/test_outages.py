"""Peers down for a while, then back: each reply delivered exactly once, in order per conversation.

Each peer (a real SMTP server, the local Bot API under the real
python-telegram-bot, the local Slack Web API under the real slack_sdk) sits
behind a ``TcpGate`` that the test shuts, refusing or resetting connections,
and opens again. Replies are queued before and during the outage. The hub
runs in this process on the test's clock, so the outbox backoff is skipped by
moving the clock, never waited out.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, select
from yarl import URL

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import messages, outbox
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, queue_reply, started_hub
from tests.support.outage import Shutting, TcpGate
from tests.support.slack_api import TEAM_ID, SlackApi
from tests.support.smtp import SmtpPeer
from tests.support.telegram_api import FakeBotApi

CUSTOMERS = 3
OUTAGE_PASSES = 3
"""Outbox passes while the peer is down; a reply is queued for every customer before each."""
MAX_DELAY = 60
RECOVERY_PASSES = 3
TG_TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs"
ENVIRON = {
    "TG_TOKEN": TG_TOKEN,
    "TG_HOOK_SECRET": "hook-secret_42",
    "SLACK_BOT_TOKEN": "xoxb-17-test-token",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99e1f2c3d4a5",
}


@dataclass(frozen=True)
class Platform:
    """One kind of peer: how to run it, point a channel at it through a gate, what it received."""

    name: str
    peer: Callable[[], AbstractAsyncContextManager[Any]]
    port: Callable[[Any], int]
    channel: Callable[[TcpGate], dict[str, Any]]
    customer: Callable[[int], InboundMessage]
    """Customer number ``n``'s first message, as the channel's connector would ingest it."""
    address: Callable[[int], str]
    """Where the peer sees replies to customer ``n`` go."""
    delivered: Callable[[Any], list[tuple[str, str]]]
    """``(address, text)`` of every reply the peer accepted, in arrival order."""


def plain_text(mail: Any) -> str:
    return mail.message.get_body(("plain",)).get_content().strip()


EMAIL = Platform(
    name="smtp",
    peer=SmtpPeer,
    port=lambda relay: relay.port,
    channel=lambda gate: {
        "kind": "email",
        "name": "mail",
        "address": "support@shop.example",
        "smtp_out": {
            "host": gate.host,
            "port": gate.port,
            "security": "none",
            "timeout_seconds": 5,
        },
    },
    customer=lambda n: InboundMessage(
        channel="mail",
        external_id=f"order-{n}@example.org",
        sender=Address("email", f"customer{n}@example.org"),
        text="Where is my parcel?",
        meta={"subject": f"Order {n}"},
    ),
    address=lambda n: f"customer{n}@example.org",
    delivered=lambda relay: [(m.rcpt_tos[0], plain_text(m)) for m in relay.received],
)

TELEGRAM = Platform(
    name="telegram",
    peer=lambda: FakeBotApi(TG_TOKEN),
    port=lambda api: URL(api.base_url).port,
    channel=lambda gate: {
        "kind": "telegram",
        "name": "tg",
        "token_env": "TG_TOKEN",
        "webhook_secret_env": "TG_HOOK_SECRET",
        "base_url": f"{gate.url}/bot",
    },
    customer=lambda n: InboundMessage(
        channel="tg",
        external_id=f"{777000 + n}:{n + 1}",
        sender=Address("telegram", str(777000 + n)),
        text="Where is my parcel?",
    ),
    address=lambda n: str(777000 + n),
    delivered=lambda api: [(str(p["chat_id"]), p["text"]) for p in api.called("sendMessage")],
)

SLACK = Platform(
    name="slack",
    peer=SlackApi,
    port=lambda api: URL(api.base_url).port,
    channel=lambda gate: {
        "kind": "slack",
        "name": "slack",
        "bot_token_env": "SLACK_BOT_TOKEN",
        "signing_secret_env": "SLACK_SIGNING_SECRET",
        "base_url": f"{gate.url}/api/",
    },
    customer=lambda n: InboundMessage(
        channel="slack",
        external_id=f"D0CUST{n}:1772442000.000200",
        sender=Address("slack", f"{TEAM_ID}:U0CUST{n}"),
        text="Where is my parcel?",
    ),
    address=lambda n: f"D0CUST{n}",
    delivered=lambda api: [(a["channel"], a["text"]) for a in api.called("chat.postMessage")],
)


def settings_through(gate: TcpGate, platform: Platform, database_url: str) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "http": {"public_url": "https://hub.example/"},
            "outbox": {"base_delay_seconds": 1, "max_delay_seconds": MAX_DELAY},
            "channels": [platform.channel(gate)],
        },
        context={"environ": ENVIRON},
    )


async def outbound_rows(hub: Hub) -> list[tuple[str, str | None, int]]:
    """``(message state, error, attempts)`` of every reply, oldest first."""

    def read(conn: Connection) -> list[tuple[str, str | None, int]]:
        query = (
            select(messages.c.state, messages.c.error, outbox.c.attempts)
            .join(outbox, outbox.c.message_id == messages.c.id)
            .order_by(messages.c.id)
        )
        return [tuple(row) for row in conn.execute(query)]

    return await hub.db.read(read)


async def pass_after_backoff(hub: Hub, clock: FakeClock) -> int:
    """Move the clock past the longest backoff, then one outbox pass; how many sends it tried."""
    clock.advance(seconds=MAX_DELAY)
    return await hub.outbox.run_due()


@pytest.mark.parametrize("how", ["refuse", "reset"])
@pytest.mark.parametrize("platform", [EMAIL, TELEGRAM, SLACK], ids=lambda p: p.name)
async def test_replies_queued_while_a_peer_is_down_leave_once_each_in_order_once_it_is_back(
    platform: Platform, how: Shutting, database_url: str, clock: FakeClock
):
    async with (
        platform.peer() as peer,
        TcpGate(platform.port(peer)) as gate,
        started_hub(settings_through(gate, platform, database_url), clock) as hub,
    ):
        agent_id = await add_agent(hub, "maria@example.com")
        conversations = [
            (await hub.ingest(platform.customer(n))).conversation_id for n in range(CUSTOMERS)
        ]
        written: dict[str, list[str]] = {platform.address(n): [] for n in range(CUSTOMERS)}
        await gate.shut(how)
        for round_ in range(OUTAGE_PASSES):
            for n, conversation_id in enumerate(conversations):
                text = f"reply {round_} to customer {n}"
                await queue_reply(hub, agent_id, conversation_id, text)
                written[platform.address(n)].append(text)
            assert await pass_after_backoff(hub, clock) == CUSTOMERS, "each first reply tried"

        assert platform.delivered(peer) == [], "nothing got through the shut gate"
        during = await outbound_rows(hub)
        assert {state for state, _, _ in during} == {"queued"}, "an outage is not a failure"
        first_replies = during[:CUSTOMERS]
        assert all(error for _, error, _ in first_replies), "the reason is kept for agents"
        assert [attempts for _, _, attempts in first_replies] == [OUTAGE_PASSES] * CUSTOMERS
        assert {attempts for _, _, attempts in during[CUSTOMERS:]} == {0}, "later ones wait"

        await gate.open()
        for _ in range(RECOVERY_PASSES):
            await pass_after_backoff(hub, clock)
        after = await outbound_rows(hub)
        assert await pass_after_backoff(hub, clock) == 0, "nothing left to send"

    assert {(state, error) for state, error, _ in after} == {("sent", None)}
    delivered = platform.delivered(peer)
    for address, texts in written.items():
        assert [text for to, text in delivered if to == address] == texts, "once each, in order"
    assert len(delivered) == CUSTOMERS * OUTAGE_PASSES
