"""SMTP in (our receiver, fed by aiosmtplib, raw sockets and swaks) and out (to aiosmtpd)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from connectors.base import AuthFailed, PermanentError, TransientError
from connectors.email.smtp import SmtpClient, SmtpReceiver, SmtpSettings, send_mail
from tests.support.corpus import corpus_bytes, corpus_params
from tests.support.smtp import SmtpPeer, self_signed, swaks_path

MAILBOXES = {"support@example.com", "sales@example.com"}
CUSTOMER = "customer@example.org"


@dataclass(frozen=True)
class Stored:
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    client: SmtpClient


class Inbox:
    """The hub's side of the receiver: stores mail, or fails, or waits when told to."""

    def __init__(self) -> None:
        self.stored: list[Stored] = []
        self.failures = 0
        self.calls = 0
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None

    async def __call__(
        self, raw: bytes, mail_from: str, rcpt_tos: list[str], client: SmtpClient
    ) -> None:
        self.calls += 1
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")
        self.stored.append(Stored(raw, mail_from, rcpt_tos, client))


@asynccontextmanager
async def receiving(inbox: Inbox, **options: object) -> AsyncIterator[SmtpReceiver]:
    receiver = SmtpReceiver("127.0.0.1", 0, MAILBOXES.__contains__, inbox, **options)  # type: ignore[arg-type]
    async with receiver:
        yield receiver


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
async def receiver(inbox: Inbox) -> AsyncIterator[SmtpReceiver]:
    async with receiving(inbox, max_bytes=4 * 1024 * 1024) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def a_message(to: str = "support@example.com", subject: str = "Invoice 42") -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Customer <{CUSTOMER}>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<m1@example.org>"
    message.set_content("Hello,\nwhere is my invoice?\n")
    return message


async def deliver(
    port: int, raw: bytes | EmailMessage, to: str = "support@example.com", **options: object
) -> str:
    """Send with aiosmtplib into the receiver; return the final reply's text."""
    if isinstance(raw, EmailMessage):
        raw = raw.as_bytes()
    settings: dict[str, object] = {"start_tls": False, "timeout": 5, **options}
    _refused, reply = await aiosmtplib.send(
        raw,
        sender=CUSTOMER,
        recipients=[to],
        hostname="127.0.0.1",
        port=port,
        **settings,  # type: ignore[arg-type]
    )
    return reply


class RawClient:
    """A bare SMTP client on a socket: exact bytes in, replies out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        assert (await client.reply()).startswith("220 ")
        return client

    async def reply(self) -> str:
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 5)).decode()
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return "\n".join(lines)

    async def command(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()

    async def data(self, content: bytes) -> str:
        assert (await self.command("DATA")).startswith("354 ")
        if not content.endswith(b"\r\n"):
            content += b"\r\n"
        stuffed = content.replace(b"\r\n.", b"\r\n..")
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        self.writer.write(stuffed + b".\r\n")
        return await self.reply()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def crlf(raw: bytes) -> bytes:
    """What a well-behaved client puts on the wire: CRLF line ends, ending with one."""
    raw = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


# --- receiving ----------------------------------------------------------------------


async def test_mail_is_stored_before_the_250(receiver: SmtpReceiver, inbox: Inbox) -> None:
    inbox.gate = asyncio.Event()
    sending = asyncio.create_task(deliver(receiver.port, a_message()))
    await asyncio.wait_for(inbox.entered.wait(), 5)
    await asyncio.sleep(0.2)
    assert not sending.done(), "the client got its answer before the message was stored"
    inbox.gate.set()
    assert await asyncio.wait_for(sending, 5) == "2.0.0 Stored"
    [stored] = inbox.stored
    assert stored.mail_from == CUSTOMER
    assert stored.rcpt_tos == ["support@example.com"]
    assert stored.raw == crlf(a_message().as_bytes())


async def test_unknown_recipient_is_refused_and_nothing_stored(
    receiver: SmtpReceiver, inbox: Inbox
) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await deliver(receiver.port, a_message("nobody@example.com"), to="nobody@example.com")
    [refusal] = refused.value.recipients
    assert (refusal.code, refusal.message) == (
        550,
        "5.1.1 <nobody@example.com>: no such mailbox here",
    )
    assert inbox.calls == 0


async def test_recipients_are_matched_case_insensitively(
    receiver: SmtpReceiver, inbox: Inbox
) -> None:
    client = await RawClient.connect(receiver.port)
    assert (await client.command("EHLO client.test")).startswith("250")
    assert (await client.command(f"MAIL FROM:<{CUSTOMER}>")).startswith("250")
    assert (await client.command("RCPT TO:<Support@Example.COM>")).startswith("250")
    assert (await client.command("RCPT TO:<SALES@example.com>")).startswith("250")
    refused = await client.command("RCPT TO:<Nobody@Example.com>")
    assert refused == "550 5.1.1 <Nobody@Example.com>: no such mailbox here"
    assert await client.data(a_message().as_bytes()) == "250 2.0.0 Stored"
    await client.close()
    assert inbox.stored[0].rcpt_tos == ["support@example.com", "sales@example.com"]


async def test_recipients_beyond_the_cap_get_452_and_the_rest_is_stored(inbox: Inbox) -> None:
    async with receiving(inbox, max_recipients=1) as receiver:
        client = await RawClient.connect(receiver.port)
        await client.command("EHLO client.test")
        await client.command(f"MAIL FROM:<{CUSTOMER}>")
        assert (await client.command("RCPT TO:<support@example.com>")).startswith("250")
        assert (await client.command("RCPT TO:<support@example.com>")).startswith("250")
        assert await client.command("RCPT TO:<sales@example.com>") == (
            "452 4.5.3 Too many recipients"
        )
        assert await client.data(a_message().as_bytes()) == "250 2.0.0 Stored"
        await client.close()
    assert [stored.rcpt_tos for stored in inbox.stored] == [["support@example.com"]]


async def test_bounces_with_a_null_sender_are_taken_with_the_clients_address_and_helo(
    receiver: SmtpReceiver, inbox: Inbox
) -> None:
    """SPF checks the HELO name of a null sender, for the client's address."""
    client = await RawClient.connect(receiver.port)
    await client.command("EHLO mailer-daemon.test")
    assert (await client.command("MAIL FROM:<>")).startswith("250")
    await client.command("RCPT TO:<support@example.com>")
    assert await client.data(a_message().as_bytes()) == "250 2.0.0 Stored"
    await client.close()
    assert inbox.stored[0].mail_from == ""
    assert inbox.stored[0].client == SmtpClient("127.0.0.1", "mailer-daemon.test")


async def test_too_big_declared_in_mail_from_is_refused(inbox: Inbox) -> None:
    async with receiving(inbox, max_bytes=10_000) as receiver:
        client = await RawClient.connect(receiver.port)
        assert "250-SIZE 10000" in await client.command("EHLO client.test")
        await client.close()
        message = a_message()
        message.set_content(("x" * 80 + "\n") * 200)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await deliver(receiver.port, message)
    assert (refused.value.code, refused.value.message) == (552, "5.3.4 Message too big")
    assert inbox.calls == 0


async def test_too_big_data_without_a_declared_size_is_refused(inbox: Inbox) -> None:
    async with receiving(inbox, max_bytes=10_000) as receiver:
        client = await RawClient.connect(receiver.port)
        await client.command("EHLO client.test")
        await client.command(f"MAIL FROM:<{CUSTOMER}>")
        await client.command("RCPT TO:<support@example.com>")
        assert await client.data(b"Subject: big\r\n\r\n" + b"y" * 70 + b"\r\n") == STORED_REPLY
        await client.command(f"MAIL FROM:<{CUSTOMER}>")
        await client.command("RCPT TO:<support@example.com>")
        big = b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 200
        assert await client.data(big) == "552 5.3.4 Message too big"
        assert (await client.command("QUIT")).startswith("221")
        await client.close()
    assert inbox.calls == 1


STORED_REPLY = "250 2.0.0 Stored"


async def test_failed_store_is_451_and_the_retry_succeeds(
    receiver: SmtpReceiver, inbox: Inbox
) -> None:
    inbox.failures = 1
    with pytest.raises(aiosmtplib.SMTPDataError) as failed:
        await deliver(receiver.port, a_message())
    assert failed.value.code == 451
    assert failed.value.message == "4.3.0 Could not store the message, try again later"
    assert inbox.stored == []
    assert await deliver(receiver.port, a_message()) == "2.0.0 Stored"
    assert len(inbox.stored) == 1


async def test_client_hanging_up_does_not_cut_storing_short(
    receiver: SmtpReceiver, inbox: Inbox
) -> None:
    inbox.gate = asyncio.Event()
    client = await RawClient.connect(receiver.port)
    await client.command("EHLO client.test")
    await client.command(f"MAIL FROM:<{CUSTOMER}>")
    await client.command("RCPT TO:<support@example.com>")
    await client.command("DATA")
    client.writer.write(crlf(a_message().as_bytes()) + b".\r\n")
    await asyncio.wait_for(inbox.entered.wait(), 5)
    await client.close()
    await asyncio.sleep(0.1)
    inbox.gate.set()
    for _ in range(100):
        if inbox.stored:
            break
        await asyncio.sleep(0.01)
    assert len(inbox.stored) == 1


async def test_stop_lets_a_message_being_stored_finish(inbox: Inbox) -> None:
    inbox.gate = asyncio.Event()
    async with receiving(inbox) as receiver:
        sending = asyncio.create_task(deliver(receiver.port, a_message()))
        await asyncio.wait_for(inbox.entered.wait(), 5)
        stopping = asyncio.create_task(receiver.stop())
        await asyncio.sleep(0.1)
        assert not stopping.done()
        inbox.gate.set()
        await asyncio.wait_for(stopping, 5)
    assert len(inbox.stored) == 1
    # Hanging up may beat the 250: then the client sends again and the hub dedupes.
    with contextlib.suppress(aiosmtplib.SMTPException):
        await sending
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await deliver(receiver.port, a_message())


async def test_starttls_into_the_receiver(inbox: Inbox, certificate: tuple[Path, Path]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    async with receiving(inbox, tls_context=context) as receiver:
        reply = await deliver(receiver.port, a_message(), start_tls=True, validate_certs=False)
    assert reply == "2.0.0 Stored"
    assert len(inbox.stored) == 1


async def test_swaks_sends_a_file_into_the_receiver(
    receiver: SmtpReceiver, inbox: Inbox, tmp_path: Path
) -> None:
    swaks = swaks_path()
    message = a_message(subject="Sent by swaks")
    path = tmp_path / "message.eml"
    path.write_bytes(message.as_bytes())
    process = await asyncio.create_subprocess_exec(
        *(swaks, "--server", f"127.0.0.1:{receiver.port}", "--timeout", "10"),
        *("--from", CUSTOMER, "--to", "Support@example.com", "--data", f"@{path}"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, output.decode()
    assert "<-  250 2.0.0 Stored" in output.decode()
    [stored] = inbox.stored
    assert stored.mail_from == CUSTOMER
    assert stored.rcpt_tos == ["support@example.com"]
    # swaks ends DATA with an empty line of its own.
    assert stored.raw == crlf(message.as_bytes()) + b"\r\n"


@pytest.mark.parametrize("path", corpus_params(), ids=lambda path: getattr(path, "name", path))
async def test_every_corpus_mail_is_taken(receiver: SmtpReceiver, inbox: Inbox, path: Path) -> None:
    raw = await asyncio.to_thread(path.read_bytes)
    assert await deliver(receiver.port, raw) == "2.0.0 Stored"
    [stored] = inbox.stored
    assert stored.raw == crlf(raw)


async def test_a_binary_blob_arrives_byte_for_byte(receiver: SmtpReceiver, inbox: Inbox) -> None:
    """aiosmtplib rewrites lone CR and LF as CRLF; on a raw socket nothing is changed."""
    blob = corpus_bytes("mail_outlook_1")
    client = await RawClient.connect(receiver.port)
    await client.command("EHLO client.test")
    await client.command(f"MAIL FROM:<{CUSTOMER}>")
    await client.command("RCPT TO:<support@example.com>")
    assert await client.data(blob) == STORED_REPLY
    await client.close()
    expected = blob if blob.endswith(b"\r\n") else blob + b"\r\n"
    assert inbox.stored[0].raw == expected


# --- sending ------------------------------------------------------------------------


async def test_sent_mail_arrives_intact() -> None:
    message = a_message(to="Dana <dana@customer.test>", subject="Ihre Rechnung: Größe ✓")
    message.set_content("Grüße aus dem Support.\n\nZeile zwei.\n")
    async with SmtpPeer() as peer:
        reply = await send_mail(peer.settings(), message)
    assert reply == "250 2.0.0 Ok: queued"
    [received] = peer.received
    assert received.mail_from == CUSTOMER
    assert received.rcpt_tos == ["dana@customer.test"]
    assert received.message["Subject"] == "Ihre Rechnung: Größe ✓"
    assert received.message["To"] == "Dana <dana@customer.test>"
    assert received.message["Message-ID"] == "<m1@example.org>"
    body = received.message.get_body()
    assert body is not None
    assert body.get_content() == "Grüße aus dem Support.\n\nZeile zwei.\n"


async def test_451_is_transient_and_the_retry_goes_through() -> None:
    async with SmtpPeer() as peer:
        peer.answer_data("451 4.3.0 Mailbox temporarily unavailable")
        with pytest.raises(TransientError) as failed:
            await send_mail(peer.settings(), a_message())
        assert "451 4.3.0 Mailbox temporarily unavailable" in failed.value.reason
        assert peer.received == []
        assert await send_mail(peer.settings(), a_message()) == "250 2.0.0 Ok: queued"
    assert len(peer.received) == 1


async def test_451_on_the_recipient_is_transient() -> None:
    async with SmtpPeer() as peer:
        peer.answer_rcpt("451 4.7.1 Greylisted, try again in 5 minutes")
        with pytest.raises(TransientError) as failed:
            await send_mail(peer.settings(), a_message())
    assert "451 4.7.1 Greylisted" in failed.value.reason


async def test_550_is_permanent_with_the_servers_words() -> None:
    async with SmtpPeer() as peer:
        peer.answer_rcpt("550 5.1.1 user unknown")
        with pytest.raises(PermanentError) as failed:
            await send_mail(peer.settings(), a_message())
    assert not isinstance(failed.value, AuthFailed)
    assert "550 5.1.1 user unknown" in failed.value.reason
    assert peer.received == []


async def test_a_partly_refused_message_counts_as_sent() -> None:
    """Failing would make the outbox send it again to the recipients who already have it."""
    message = a_message(to="dana@customer.test, gone@customer.test")
    async with SmtpPeer() as peer:
        peer.answer_rcpt("250 2.1.5 OK", "550 5.1.1 user unknown")
        reply = await send_mail(peer.settings(), message)
    assert reply == "250 2.0.0 Ok: queued (refused: <gone@customer.test> 550 5.1.1 user unknown)"
    assert peer.received[0].rcpt_tos == ["dana@customer.test"]


async def test_554_on_data_is_permanent() -> None:
    async with SmtpPeer() as peer:
        peer.answer_data("554 5.7.1 Message rejected as spam")
        with pytest.raises(PermanentError) as failed:
            await send_mail(peer.settings(), a_message())
    assert "554 5.7.1 Message rejected as spam" in failed.value.reason


async def test_login_with_the_right_password() -> None:
    async with SmtpPeer(users={"hub": "s3cret-pw"}) as peer:
        settings = peer.settings(username="hub", password="s3cret-pw")
        assert await send_mail(settings, a_message()) == "250 2.0.0 Ok: queued"
    assert peer.logins == [("hub", True)]
    assert len(peer.received) == 1


async def test_wrong_password_is_auth_failed_and_never_shown() -> None:
    async with SmtpPeer(users={"hub": "s3cret-pw"}) as peer:
        settings = peer.settings(username="hub", password="wrong-pw-123")
        with pytest.raises(AuthFailed) as failed:
            await send_mail(settings, a_message())
    assert "535" in failed.value.reason
    assert "wrong-pw-123" not in failed.value.reason
    assert "wrong-pw-123" not in repr(settings)
    assert peer.received == []


async def test_no_login_where_one_is_required_is_auth_failed() -> None:
    async with SmtpPeer(users={"hub": "s3cret-pw"}) as peer:
        with pytest.raises(AuthFailed) as failed:
            await send_mail(peer.settings(), a_message())
    assert "530 5.7.0 Authentication required" in failed.value.reason


async def test_closed_port_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError) as failed:
        await send_mail(SmtpSettings("127.0.0.1", port, security="none", timeout=2), a_message())
    assert f"127.0.0.1:{port}" in failed.value.reason


async def test_a_server_that_never_greets_is_transient() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        settings = SmtpSettings("127.0.0.1", port, security="none", timeout=0.3)
        with pytest.raises(TransientError, match="did not answer in time"):
            await send_mail(settings, a_message())
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


async def test_starttls_with_a_self_signed_certificate(certificate: tuple[Path, Path]) -> None:
    async with SmtpPeer(tls="starttls", certificate=certificate) as peer:
        settings = peer.settings(validate_certs=False)
        assert settings.security == "starttls"
        assert await send_mail(settings, a_message()) == "250 2.0.0 Ok: queued"
        with pytest.raises(PermanentError, match="certificate we do not trust"):
            await send_mail(peer.settings(), a_message())
    assert len(peer.received) == 1


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    async with SmtpPeer(tls="tls", certificate=certificate) as peer:
        settings = peer.settings(validate_certs=False)
        assert settings.security == "tls"
        assert await send_mail(settings, a_message()) == "250 2.0.0 Ok: queued"
    assert len(peer.received) == 1


async def test_starttls_required_but_not_offered_is_permanent() -> None:
    async with SmtpPeer() as peer:
        with pytest.raises(PermanentError, match="STARTTLS"):
            await send_mail(peer.settings(security="starttls"), a_message())
    assert peer.received == []
