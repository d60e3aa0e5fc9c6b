"""The email channel end to end: real SMTP in, real SMTP out, threads kept, nothing lost.

Also under abuse: too many recipients, MIME bombs, subjects that break replies.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from email import message_from_string
from email.message import EmailMessage
from email.utils import make_msgid, parsedate_to_datetime
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage
from connectors.email.connector import LONGEST_EXTERNAL_ID, EmailConnector
from connectors.email.headers import Headers, offset_zone, sent_date
from hub.app import Hub
from hub.db.schema import customers, messages, quarantine
from tests.conftest import ENVIRON
from tests.support.clock import FakeClock
from tests.support.corpus import corpus_files
from tests.support.hubs import add_agent
from tests.support.smtp import SmtpPeer, swaks_path
from tests.support.uploads import upload

SUPPORT = "support@shop.example"
CUSTOMER = "lena@example.org"
TUESDAY_NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def email_settings(database_url: str, relay_port: int, **overrides: object) -> Settings:
    data: dict[str, object] = {
        "database": {"url": database_url},
        "channels": [
            {
                "kind": "email",
                "name": "mail",
                "address": SUPPORT,
                "from_name": "Shop support",
                "smtp_in": {"host": "127.0.0.1", "port": 0},
                "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
                # These tests are about transport; tests/test_email_authentication.py checks
                # senders (with DNS answered by the test).
                "authentication": {"check": False},
            }
        ],
        **overrides,
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_NOON)


@pytest.fixture
async def hub(database_url, clock, relay) -> AsyncIterator[Hub]:
    """The hub under test, with one email channel listening for SMTP on a free port."""
    hub = Hub(email_settings(database_url, relay.port), clock)
    await hub.start(run_workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


def smtp_port(hub: Hub) -> int:
    port = hub.connectors["mail"].smtp_port  # type: ignore[attr-defined]
    assert port
    return port


def customer_mail(text: str, subject: str = "Order 1234", **headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Lena Fischer <{CUSTOMER}>"
    mail["To"] = SUPPORT
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    mail.set_content(text)
    return mail


async def deliver(hub: Hub, mail: EmailMessage, to: str = SUPPORT) -> None:
    await aiosmtplib.send(
        mail, hostname="127.0.0.1", port=smtp_port(hub), sender=CUSTOMER, recipients=[to]
    )


async def stored_messages(hub: Hub) -> list[dict]:
    rows = await hub.db.read(
        lambda conn: conn.execute(select(messages).order_by(messages.c.id)).all()
    )
    return [row._asdict() for row in rows]


async def quarantined(hub: Hub) -> list[str]:
    rows = await hub.db.read(
        lambda conn: conn.execute(select(quarantine.c.reason).order_by(quarantine.c.id)).all()
    )
    return [row.reason for row in rows]


async def test_mail_by_smtp_is_stored_before_250_with_the_customer_by_email(hub: Hub):
    await add_agent(hub, "maria@example.com")
    await deliver(hub, customer_mail("Where is my parcel?\n\n-- \nLena"))
    (message,) = await stored_messages(hub)
    assert (message["direction"], message["channel"], message["text"]) == (
        "in",
        "mail",
        "Where is my parcel?",
    )
    assert message["meta"]["subject"] == "Order 1234"
    assert "-- \nLena" in message["meta"]["full_text"], "the original is kept"
    history = await hub.identity_history(Address("email", CUSTOMER), 10)
    assert [m["text"] for m in history] == ["Where is my parcel?"]


async def test_a_repeated_delivery_is_stored_once(hub: Hub):
    await add_agent(hub, "maria@example.com")
    mail = customer_mail("Hello")
    await deliver(hub, mail)
    await deliver(hub, mail)
    assert len(await stored_messages(hub)) == 1


async def test_a_redelivery_with_other_trace_headers_is_still_stored_once(hub: Hub):
    """The same mail by another path (a server added its Received line, re-folded the
    body's line ends): a repeat."""
    await add_agent(hub, "maria@example.com")
    mail = customer_mail("Hello")
    await deliver(hub, mail)
    relayed = b"Received: from mx2.example.org by mx.shop.example\r\n" + mail.as_bytes()
    await aiosmtplib.send(
        relayed.replace(b"Hello\n", b"Hello  \r\n\r\n"),
        hostname="127.0.0.1",
        port=smtp_port(hub),
        sender=CUSTOMER,
        recipients=[SUPPORT],
    )
    assert len(await stored_messages(hub)) == 1


async def test_a_message_id_longer_than_the_hub_stores_is_kept_by_its_digest(hub: Hub):
    """PostgreSQL refused it (external_id is 255 characters), so the sender heard 451 forever."""
    await add_agent(hub, "maria@example.com")
    mail = customer_mail("A very long id")
    mail.replace_header("Message-ID", f"<{'a' * 300}@example.org>")
    await deliver(hub, mail)
    await deliver(hub, mail)
    (stored,) = await stored_messages(hub)
    assert stored["text"] == "A very long id"
    assert len(stored["external_id"]) <= LONGEST_EXTERNAL_ID == messages.c.external_id.type.length


async def test_another_mail_with_a_stored_message_id_is_stored_apart_marked_and_logged(
    hub: Hub, relay: SmtpPeer, browser_factory, caplog: pytest.LogCaptureFixture
):
    """A mailer reusing one Message-ID: the second mail is no repeat, so it is not dropped
    after the 250; its own redelivery still is a repeat."""
    await add_agent(hub, "maria@example.com")
    first = customer_mail("Where is order 77?")
    second = customer_mail("And order 78?")
    second.replace_header("Message-ID", first["Message-ID"])
    await deliver(hub, first)
    with caplog.at_level(logging.WARNING, logger="hub.ingest"):
        await deliver(hub, second)
    await deliver(hub, second)
    await deliver(hub, first)
    one, two = await stored_messages(hub)
    assert (one["text"], two["text"]) == ("Where is order 77?", "And order 78?")
    assert two["conversation_id"] == one["conversation_id"], "in the conversation, visible"
    message_id = first["Message-ID"].strip("<>")
    assert one["external_id"] == message_id
    assert two["external_id"].startswith(f"{message_id}#"), "an id of its own"
    assert two["meta"]["reused_id"] == {"external_id": message_id, "message_id": one["id"]}
    (warning,) = [r for r in caplog.records if r.name == "hub.ingest"]
    assert warning.getMessage() == (
        f"channel mail: message {two['id']} came with the external id of message {one['id']} "
        "but says something else: stored apart, marked"
    )
    await reply_from_inbox(hub, browser_factory, "Both are on their way.")
    (sent,) = relay.received
    assert sent.message["In-Reply-To"] == first["Message-ID"], "threaded by the real id"
    assert sent.message["References"] == first["Message-ID"]


async def test_a_multipart_mail_whose_boundary_never_occurs_is_stored_with_its_text(hub: Hub):
    """As CPython's test corpus has it (msg_17): multipart declared, plain text written."""
    await add_agent(hub, "maria@example.com")
    raw = (
        f"From: Lena Fischer <{CUSTOMER}>\r\nTo: {SUPPORT}\r\nSubject: Order 1234\r\n"
        f"Message-ID: {make_msgid(domain='example.org')}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="BOUNDARY"\r\n\r\n'
        "Hi there,\r\n\r\nwhere is my parcel?\r\n"
    )
    await aiosmtplib.send(
        raw, hostname="127.0.0.1", port=smtp_port(hub), sender=CUSTOMER, recipients=[SUPPORT]
    )
    (message,) = await stored_messages(hub)
    assert message["text"] == "Hi there,\n\nwhere is my parcel?"
    assert "attachments" not in message["meta"]
    assert (
        "declared MIME boundary never found (multipart/mixed at top level)"
        in (message["meta"]["defects"])
    )


async def reply_from_inbox(hub: Hub, browser_factory, text: str) -> tuple[int, dict]:
    maria = await (await browser_factory()).login("maria@example.com")
    (conversation,) = await maria.get("/api/conversations")
    reply = await maria.post(
        f"/api/conversations/{conversation['id']}/replies", {"text": text}, expect=202
    )
    await hub.outbox.run_due()
    return conversation["id"], reply


async def test_reply_leaves_by_smtp_with_threading_headers(
    hub: Hub, relay: SmtpPeer, clock: FakeClock, browser_factory
):
    await add_agent(hub, "maria@example.com")
    first = customer_mail("Where is my parcel?")
    await deliver(hub, first)
    conversation_id, _ = await reply_from_inbox(hub, browser_factory, "It left today.")
    (sent,) = relay.received
    mail = sent.message
    assert sent.rcpt_tos == [CUSTOMER]
    assert mail["From"] == f"Shop support <{SUPPORT}>"
    assert mail["Subject"] == "Re: Order 1234"
    assert mail["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in mail["References"]
    assert mail["Message-ID"].startswith(f"<hub.c{conversation_id}.")
    assert mail["Reply-To"].startswith(f"support+c{conversation_id}.")
    assert parsedate_to_datetime(mail["Date"]) == clock.now(), "dated by the hub's clock"
    assert (mail["Auto-Submitted"], mail["X-Auto-Response-Suppress"]) == (None, None), (
        "a person wrote it: the customer's auto-responder may answer"
    )
    plain = mail.get_body(("plain",)).get_content()
    rich = mail.get_body(("html",)).get_content()
    assert plain.strip() == "It left today."
    assert "<p>It left today.</p>" in rich


async def test_a_reply_with_a_file_arrives_with_it_attached(
    hub: Hub, relay: SmtpPeer, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await deliver(hub, customer_mail("Can I have the invoice?"))
    maria = await (await browser_factory()).login("maria@example.com")
    (conversation,) = await maria.get("/api/conversations")
    invoice = b"%PDF-1.7\n" + bytes(range(256)) * 40
    uploaded = await upload(maria, conversation["id"], "Rechnung Nr. 7.pdf", invoice)
    body = {"text": "Here it is.", "attachment_ids": [uploaded["id"]]}
    await maria.post(f"/api/conversations/{conversation['id']}/replies", body, expect=202)
    await hub.outbox.run_due()
    (sent,) = relay.received
    mail = sent.message
    assert mail.get_body(("plain",)).get_content().strip() == "Here it is."
    (attached,) = mail.iter_attachments()
    assert (attached.get_filename(), attached.get_content_type()) == (
        "Rechnung Nr. 7.pdf",
        "application/pdf",
    )
    assert attached.get_content() == invoice


async def test_customer_reply_to_our_mail_reopens_the_same_conversation(
    hub: Hub, relay: SmtpPeer, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await deliver(hub, customer_mail("Where is my parcel?"))
    conversation_id, _ = await reply_from_inbox(hub, browser_factory, "It left today.")
    maria = await (await browser_factory()).login("maria@example.com")
    await maria.post(f"/api/conversations/{conversation_id}/resolve", expect=200)
    ours = relay.received[0].message["Message-ID"]
    answer = customer_mail("Thanks, it arrived!", subject="Re: Order 1234", In_Reply_To=ours)
    await deliver(hub, answer)
    *_, last = await stored_messages(hub)
    assert (last["text"], last["conversation_id"]) == ("Thanks, it arrived!", conversation_id)
    assert (await maria.get(f"/api/conversations/{conversation_id}"))["state"] == "open"


async def test_mail_to_the_reply_address_finds_its_conversation(
    hub: Hub, relay: SmtpPeer, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await deliver(hub, customer_mail("First question"))
    conversation_id, _ = await reply_from_inbox(hub, browser_factory, "Answer")
    maria = await (await browser_factory()).login("maria@example.com")
    await maria.post(f"/api/conversations/{conversation_id}/resolve", expect=200)
    token_address = relay.received[0].message["Reply-To"]
    await deliver(hub, customer_mail("New mail, no references"), to=token_address)
    *_, last = await stored_messages(hub)
    assert last["conversation_id"] == conversation_id


async def test_relay_451_is_retried_and_550_fails_with_the_servers_reason(
    hub: Hub, relay: SmtpPeer, clock: FakeClock, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await deliver(hub, customer_mail("Hi"))
    relay.answer_data("451 4.3.0 Try again later")
    _, reply = await reply_from_inbox(hub, browser_factory, "First answer")
    assert relay.received == []
    clock.advance(minutes=5)
    await hub.outbox.run_due()
    assert [m.message.get_body(("plain",)).get_content().strip() for m in relay.received] == [
        "First answer"
    ]
    relay.answer_rcpt("550 5.1.1 user unknown")
    maria = await (await browser_factory()).login("maria@example.com")
    failed = await maria.post(
        f"/api/conversations/{reply['conversation_id']}/replies", {"text": "Second"}, expect=202
    )
    await hub.outbox.run_due()
    row = next(m for m in await stored_messages(hub) if m["id"] == failed["id"])
    assert row["state"] == "failed"
    assert "550" in row["error"]
    assert "user unknown" in row["error"]


async def test_held_customer_gets_an_auto_reply_but_auto_submitted_mail_does_not(
    database_url, relay: SmtpPeer
):
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    office = {"zone": "Europe/London", "weekly": {"mon": ["09:00-17:00"]}}
    hub = Hub(email_settings(database_url, relay.port, hours=office), FakeClock(saturday))
    await hub.start(run_workers=False)
    try:
        await add_agent(hub, "maria@example.com", name="Maria")
        await deliver(
            hub, customer_mail("Out of office: back Monday", Auto_Submitted="auto-replied")
        )
        await hub.outbox.run_due()
        assert relay.received == [], "never answer a machine"
        await deliver(hub, customer_mail("A real question"))
        await hub.outbox.run_due()
        (auto_reply,) = relay.received
        assert "09:00 Monday" in auto_reply.message.get_body(("plain",)).get_content()
        # RFC 3834 section 5, and Exchange's own header: no auto-responder answers it
        assert auto_reply.message["Auto-Submitted"] == "auto-replied"
        assert auto_reply.message["X-Auto-Response-Suppress"] == "All"
    finally:
        await hub.stop()


async def test_the_date_headers_offset_is_a_zone_hint_named_as_an_offset_in_the_auto_reply(
    database_url, relay: SmtpPeer
):
    """A customer writing at 20:30 -0500 is told the owner's hours as GMT-05:00, not as
    "your time" (an offset is a hint, not a place), and it never replaces a place."""
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
    office = {"zone": "Europe/London", "weekly": {"mon": ["09:00-17:00"]}}
    hub = Hub(email_settings(database_url, relay.port, hours=office), FakeClock(saturday))
    await hub.start(run_workers=False)
    try:
        await add_agent(hub, "maria@example.com", name="Maria")
        await deliver(hub, customer_mail("A question", Date="Sat, 07 Mar 2026 05:00:00 -0500"))
        await hub.outbox.run_due()
        (auto_reply,) = relay.received
        text = auto_reply.message.get_body(("plain",)).get_content()
        assert "Maria will reply here at 04:00 Monday, GMT-05:00." in text
        assert await customer_zone(hub) == "Etc/GMT+5"
        chicago = "America/Chicago"
        lena = Address("email", CUSTOMER)
        await hub.ingest(InboundMessage("mail", "1", lena, "hi", zone=chicago))
        await deliver(hub, customer_mail("Again", Date="Sat, 07 Mar 2026 05:10:00 -0500"))
        assert await customer_zone(hub) == chicago, "a place reported once stays"
    finally:
        await hub.stop()


async def customer_zone(hub: Hub) -> str | None:
    return await hub.db.read(
        lambda conn: conn.execute(select(customers.c.zone).order_by(customers.c.id)).scalar()
    )


@pytest.mark.parametrize(
    ("date", "zone"),
    [
        ("Mon, 02 Mar 2026 20:30:00 +0100", "Etc/GMT-1"),
        ("Mon, 02 Mar 2026 20:30:00 -0500", "Etc/GMT+5"),
        ("Mon, 02 Mar 2026 20:30:00 +0530", None),
        ("Mon, 02 Mar 2026 20:30:00 +0000", None),
        ("Mon, 02 Mar 2026 20:30:00 -0000", None),
    ],
)
def test_only_whole_hour_offsets_become_zone_hints(date: str, zone: str | None):
    notes: list[str] = []
    headers = Headers(message_from_string(f"Date: {date}\n\nhi"), notes)
    assert offset_zone(sent_date(headers, notes)) == zone


async def test_every_corpus_mail_is_stored_or_quarantined_with_a_reason(hub: Hub):
    await add_agent(hub, "maria@example.com")
    files = corpus_files()
    assert len(files) == 23, "the corpus's 23 mail files (the README counts 24)"
    port = smtp_port(hub)
    for path in files:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = RawSmtp(reader, writer)
        await client.send(path.read_bytes())
    stored = [m for m in await stored_messages(hub) if m["direction"] == "in"]
    refused = await quarantined(hub)
    assert len(stored) + len(refused) == len(files)
    assert any("Outlook" in reason or ".msg" in reason for reason in refused)
    assert all(reason for reason in refused)


class RawSmtp:
    """Sends bytes exactly as they are (aiosmtplib rewrites line endings of binary input)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def expect(self, code: str) -> None:
        while True:
            line = (await self.reader.readline()).decode()
            assert line.startswith(code), line
            if line[3:4] != "-":
                return

    async def command(self, line: str, code: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.expect(code)

    async def send(self, raw: bytes) -> None:
        await self.expect("220")
        await self.command("EHLO test", "250")
        await self.command(f"MAIL FROM:<{CUSTOMER}>", "250")
        await self.command(f"RCPT TO:<{SUPPORT}>", "250")
        await self.command("DATA", "354")
        body = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        body = b"\r\n".join(
            b"." + line if line.startswith(b".") else line for line in body.split(b"\r\n")
        )
        self.writer.write(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
        await self.expect("250")
        await self.command("QUIT", "221")
        self.writer.close()
        await self.writer.wait_closed()


async def test_swaks_sends_real_mail_into_the_receiver(hub: Hub, tmp_path: Path):
    await add_agent(hub, "maria@example.com")
    mail = tmp_path / "mail.eml"
    mail.write_bytes(bytes(customer_mail("Sent with swaks")))
    process = await asyncio.create_subprocess_exec(
        swaks_path(),
        "--server",
        f"127.0.0.1:{smtp_port(hub)}",
        "--from",
        CUSTOMER,
        "--to",
        SUPPORT,
        "--data",
        f"@{mail}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, output.decode()
    (message,) = await stored_messages(hub)
    assert message["text"] == "Sent with swaks"


async def test_attachments_are_stored_listed_and_downloadable_oversize_only_listed(
    database_url, relay: SmtpPeer, clock: FakeClock, browser_factory, hub: Hub
):
    settings = email_settings(database_url, relay.port)
    small_limit = settings.channels[0].model_copy(update={"max_attachment_bytes": 1000})
    limited = Hub(settings.model_copy(update={"channels": [small_limit]}), clock)
    await limited.start(run_workers=False)
    try:
        await add_agent(limited, "maria@example.com")
        mail = customer_mail("Photos attached\n\n> On Monday you wrote:\n> old text")
        mail.add_attachment(
            b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="invoice 2026.pdf"
        )
        mail.add_attachment(b"x" * 5000, maintype="image", subtype="png", filename="big.png")
        await deliver(limited, mail)
        maria = await (await browser_factory()).login("maria@example.com")
        (summary,) = await maria.get("/api/conversations")
        detail = await maria.get(f"/api/conversations/{summary['id']}")
        (message,) = [m for m in detail["messages"] if m["direction"] == "in"]
        assert message["text"] == "Photos attached"
        assert "old text" in message["meta"]["full_text"]
        assert message["meta"]["attachments"] == [
            {
                "name": "invoice 2026.pdf",
                "content_type": "application/pdf",
                "size": 14,
                "stored": True,
            },
            {"name": "big.png", "content_type": "image/png", "size": 5000, "stored": False},
        ]
        async with maria.session.get(
            maria.url(f"/api/messages/{message['id']}/attachments/0")
        ) as response:
            assert response.status == 200
            assert await response.read() == b"%PDF-1.4 small"
            assert response.headers["Content-Disposition"].startswith("attachment;")
            assert "invoice%202026.pdf" in response.headers["Content-Disposition"]
        status, body = await maria.call("GET", f"/api/messages/{message['id']}/attachments/1")
        assert status == 404
        assert "over the size limit" in body["error"]
        # A position past the column's range (PostgreSQL's integer) is simply not there.
        status, body = await maria.call(
            "GET", f"/api/messages/{message['id']}/attachments/278225273171"
        )
        assert status == 404
        assert body["error"] == f"message {message['id']} has no attachment 278225273171"
        await add_agent(limited, "tom@example.com")
        tom = await (await browser_factory()).login("tom@example.com")
        status, _ = await tom.call("GET", f"/api/messages/{message['id']}/attachments/0")
        assert status == 403
    finally:
        await limited.stop()


async def test_admin_channel_test_reaches_the_relay(hub: Hub, relay: SmtpPeer, browser_factory):
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    result = await admin.post("/api/admin/channels/mail/test", expect=200)
    assert result["ok"] is True
    assert f"127.0.0.1:{relay.port} answered 250" in result["detail"]


async def test_a_bounce_of_our_reply_is_filed_in_its_conversation_without_a_new_customer(
    hub: Hub, relay: SmtpPeer, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await deliver(hub, customer_mail("Where is my parcel?"))
    conversation_id, _ = await reply_from_inbox(hub, browser_factory, "It left today.")
    ours = relay.received[0].message["Message-ID"]
    bounce = EmailMessage()
    bounce["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example.org>"
    bounce["To"] = SUPPORT
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce["Message-ID"] = make_msgid(domain="mx.example.org")
    bounce["In-Reply-To"] = ours
    bounce["Auto-Submitted"] = "auto-replied"
    bounce.set_content("The mail system: <lena@example.org>: mailbox full")
    await aiosmtplib.send(
        bounce, hostname="127.0.0.1", port=smtp_port(hub), sender="", recipients=[SUPPORT]
    )
    *_, filed = await stored_messages(hub)
    assert filed["conversation_id"] == conversation_id
    assert filed["identity_id"] is None
    assert filed["meta"]["automated"] is True
    assert filed["meta"]["from"] == "mailer-daemon@mx.example.org"
    maria = await (await browser_factory()).login("maria@example.com")
    assert len(await maria.get("/api/conversations")) == 1, "no new customer, no new thread"
    await hub.outbox.run_due()
    assert len(relay.received) == 1, "never answered"


# --- limits ------------------------------------------------------------------------


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
    # As `hub run` does at start (settle_garbage_collector): without it, a full collection
    # over everything earlier tests left alive can hold the interpreter for most of a second.
    gc.collect()
    gc.freeze()
    try:
        started = time.perf_counter()
        stall = await longest_loop_stall(connector.receive(mail_of_parts(5000), ()))
        took = time.perf_counter() - started
    finally:
        gc.unfreeze()
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
