"""/metrics: Prometheus counts of messages, holds, outbox and request latency, nothing private."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from config import Settings
from config.schema import HoursSettings, MetricsSettings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.contact import DEFAULT_SCOPE, write_hours
from tests.conftest import ENVIRON, make_settings
from tests.support.hubs import started_hub
from tests.support.peers import Answer, RecordingPeer
from tests.test_outbox import customer_writes, reply, sms_settings

SCRAPER = {"Authorization": f"Bearer {ENVIRON['METRICS_TOKEN']}"}
SATURDAYS_ONLY = HoursSettings.model_validate(
    {"zone": "UTC", "weekly": {"sat": [{"span": "09:00-17:00"}]}}
)


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


def with_metrics_token(settings: Settings) -> Settings:
    metrics = MetricsSettings.model_validate(
        {"token_env": "METRICS_TOKEN"}, context={"environ": ENVIRON}
    )
    return settings.model_copy(update={"metrics": metrics})


@pytest.fixture
async def hub(database_url, clock, peer) -> AsyncIterator[Hub]:
    hub = Hub(with_metrics_token(sms_settings(database_url, peer.url("/callback"))), clock)
    await hub.start(run_workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


async def scrape(server: TestServer) -> dict[tuple[str, tuple], float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/metrics"), headers=SCRAPER) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def chat(external_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="webchat", external_id=external_id, sender=Address("webchat", "v-1"), text=text
    )


async def test_messages_in_are_counted_per_channel_without_duplicates(hub: Hub, server):
    await customer_writes(hub)
    for external_id in ("w-1", "w-2", "w-2"):
        await hub.ingest(chat(external_id, "secret order details"))
    figures = await scrape(server)
    assert figures[("hub_messages_in_total", (("channel", "webchat"),))] == 2
    assert figures[("hub_messages_in_total", (("channel", "sms"),))] == 1


async def test_outbox_backlog_and_failures(hub: Hub, server, peer: RecordingPeer):
    agent, conversation_id = await customer_writes(hub)
    await reply(hub, agent, conversation_id, "first")
    await reply(hub, agent, conversation_id, "second")
    figures = await scrape(server)
    assert figures[("hub_outbox_backlog", ())] == 2
    assert figures[("hub_outbox_failed", ())] == 0
    peer.answer(Answer(400, {"error": "number not reachable"}))
    await hub.outbox.run_due()
    figures = await scrape(server)
    assert figures[("hub_outbox_backlog", ())] == 0
    assert figures[("hub_outbox_failed", ())] == 1


async def test_held_count_and_release_lag(hub: Hub, server, clock):
    await hub.db.write(lambda tx: write_hours(tx, DEFAULT_SCOPE, "", SATURDAYS_ONLY))
    await hub.ingest(chat("w-1", "written on Monday"))
    figures = await scrape(server)
    assert figures[("hub_held_messages", ())] == 1
    assert figures[("hub_release_lag_seconds", ())] == 0, "not due yet"
    clock.advance(days=5, minutes=30)
    figures = await scrape(server)
    assert figures[("hub_release_lag_seconds", ())] == 30 * 60
    await hub.holds.release_due()
    figures = await scrape(server)
    assert figures[("hub_held_messages", ())] == 0
    assert figures[("hub_release_lag_seconds", ())] == 0


async def test_request_latency_is_labelled_by_route_pattern_not_by_id(hub: Hub, server):
    async with aiohttp.ClientSession() as session:
        for conversation_id in (1, 2, 3):
            await session.get(server.make_url(f"/api/conversations/{conversation_id}"))
    figures = await scrape(server)
    labels = {labels for (name, labels) in figures if name == "hub_http_request_seconds_count"}
    routes = {dict(label)["route"] for label in labels}
    assert "/api/conversations/{conversation_id}" in routes
    assert not any("/api/conversations/1" in route for route in routes)
    count = figures[
        (
            "hub_http_request_seconds_count",
            (("method", "GET"), ("route", "/api/conversations/{conversation_id}")),
        )
    ]
    assert count == 3


async def test_metrics_name_no_customer_and_no_text(hub: Hub, server):
    await hub.ingest(chat("w-1", "my secret word is swordfish"))
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/metrics"), headers=SCRAPER) as r,
    ):
        text = await r.text()
    assert "swordfish" not in text  # not a number: timestamps in the output are digits
    assert "v-1" not in text


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic bWV0cmljcw=="])
async def test_metrics_need_the_configured_token(server, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/metrics"), headers=headers) as r,
    ):
        assert (r.status, await r.json()) == (
            401,
            {"error": "metrics need the bearer token named by metrics.token_env"},
        )


async def test_without_a_token_configured_metrics_are_off(database_url, clock):
    async with (
        started_hub(make_settings(database_url), clock) as hub,
        TestServer(hub.web_app(), host="127.0.0.1") as server,
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/metrics"), headers=SCRAPER) as r,
    ):
        assert (r.status, await r.json()) == (
            404,
            {"error": "metrics are off: set metrics.token_env to serve them"},
        )
