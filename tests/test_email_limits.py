"""The email channel under abuse: too many recipients, MIME bombs, headers that break replies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiosmtplib
import pytest

from hub.app import Hub
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.test_email_channel import (
    CUSTOMER,
    TUESDAY_NOON,
    customer_mail,
    email_settings,
    smtp_port,
    stored_messages,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_NOON)


@pytest.fixture
async def hub(database_url, clock, relay) -> AsyncIterator[Hub]:
    hub = Hub(email_settings(database_url, relay.port), clock)
    await hub.start(run_workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


async def test_a_thousand_recipients_get_452_beyond_the_first_hundred(hub: Hub):
    await add_agent(hub, "maria@example.com")
    recipients = [f"support+{n}@shop.example" for n in range(1000)]
    refused, reply = await aiosmtplib.send(
        customer_mail("To all of you"),
        hostname="127.0.0.1",
        port=smtp_port(hub),
        sender=CUSTOMER,
        recipients=recipients,
    )
    assert reply == "2.0.0 Stored"
    assert set(refused) == set(recipients[100:])
    assert {(r.code, r.message) for r in refused.values()} == {(452, "4.5.3 Too many recipients")}
    assert [m["text"] for m in await stored_messages(hub)] == ["To all of you"]
