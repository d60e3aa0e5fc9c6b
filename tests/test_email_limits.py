"""The email channel under abuse: too many recipients, MIME bombs, headers that break replies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable

import aiosmtplib
import pytest

from connectors.base import Address, InboundMessage
from connectors.email.connector import EmailConnector
from hub.app import Hub
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.support.smtp import SmtpPeer
from tests.test_email_channel import (
    CUSTOMER,
    SUPPORT,
    TUESDAY_NOON,
    customer_mail,
    email_settings,
    quarantined,
    reply_from_inbox,
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


def mail_of_parts(count: int) -> bytes:
    """A 219 KiB mail of 5,000 tiny parts: about 4 s of parsing without a limit."""
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n" for n in range(count))
    head = f"From: {CUSTOMER}\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=b\r\n"
    return f"{head}\r\n{parts}--b--\r\n".encode()


async def longest_loop_stall(work: Awaitable[object]) -> float:
    """Run ``work`` while a ticker on the loop measures the longest gap between its ticks."""
    gaps: list[float] = []
    started, done = asyncio.Event(), asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        started.set()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await started.wait()
    try:
        await work
    finally:
        done.set()
        await ticker
    return max(gaps)


async def test_a_mime_bomb_is_quarantined_without_stalling_the_loop(hub: Hub):
    """What SMTP and IMAP hand over is parsed off the loop, and given up at 1,001 parts."""
    connector: EmailConnector = hub.connectors["mail"]  # type: ignore[assignment]
    started = time.perf_counter()
    stall = await longest_loop_stall(connector.receive(mail_of_parts(5000), ()))
    took = time.perf_counter() - started
    assert await quarantined(hub) == ["more than 1000 MIME parts"]
    assert await stored_messages(hub) == []
    # Parsed on the loop, the loop would stand still for all of it; measured as a share,
    # so a busy machine slows both alike.
    assert stall < took / 2, f"the event loop stood still {stall:.2f} s of {took:.2f} s"


async def test_a_subject_with_an_encoded_line_break_gets_a_reply_on_one_line(
    hub: Hub, relay: SmtpPeer, browser_factory
):
    """RFC 2047 lets a subject carry CR/LF; a header cannot, so the reply folds it to a space."""
    await add_agent(hub, "maria@example.com")
    raw = customer_mail("Where is it?", subject="Order 1234").as_bytes()
    encoded = b"=?utf-8?q?Order_1234=0D=0ABcc:_evil@example.net?="
    await aiosmtplib.send(
        raw.replace(b"Subject: Order 1234", b"Subject: " + encoded),
        hostname="127.0.0.1",
        port=smtp_port(hub),
        sender=CUSTOMER,
        recipients=[SUPPORT],
    )
    (stored,) = await stored_messages(hub)
    assert stored["meta"]["subject"] == "Order 1234\r\nBcc: evil@example.net"
    _, reply = await reply_from_inbox(hub, browser_factory, "It left today.")
    (sent,) = relay.received
    assert sent.message["Subject"] == "Re: Order 1234 Bcc: evil@example.net"
    assert sent.rcpt_tos == [CUSTOMER]
    row = next(m for m in await stored_messages(hub) if m["id"] == reply["id"])
    assert row["state"] == "sent"


async def test_a_reply_that_cannot_be_built_fails_at_once_with_the_reason(
    hub: Hub, relay: SmtpPeer, browser_factory
):
    """A line break in the address is no mail to send; retrying would build the same."""
    await add_agent(hub, "maria@example.com")
    sender = Address("email", "lena@example.org\r\nBcc: evil@example.net")
    await hub.ingest(InboundMessage("mail", "m-1", sender, "Hello"))
    _, reply = await reply_from_inbox(hub, browser_factory, "Hello Lena")
    assert relay.received == []
    row = next(m for m in await stored_messages(hub) if m["id"] == reply["id"])
    assert row["state"] == "failed"
    assert row["error"].startswith("cannot build the reply mail: ")
