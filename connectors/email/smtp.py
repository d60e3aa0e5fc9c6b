"""SMTP both ways: a receiver that says 250 only once the hub stored the mail, and a sender.

The receiver runs aiosmtpd's protocol class on the hub's own event loop (no
thread), so ``on_mail`` is an ordinary coroutine of the hub. A sender that
does not get our 250 keeps the message and tries again: nothing is lost when
storing fails, at worst a message arrives twice.
"""

from __future__ import annotations

import asyncio
import email.message
import logging
import ssl
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from connectors.base import AuthFailed, ConnectorError, PermanentError, TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpClient:
    """Who handed a message over: its address and the name it gave in HELO/EHLO."""

    address: str
    helo: str


OnMail = Callable[[bytes, str, list[str], SmtpClient], Awaitable[None]]
"""(raw message, MAIL FROM, accepted RCPT TOs, the client); returns once the message is
durably stored."""

STORED = "250 2.0.0 Stored"
RECIPIENT_OK = "250 2.1.5 OK"
NO_SUCH_MAILBOX = "550 5.1.1 <{}>: no such mailbox here"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TOO_BIG = "552 5.3.4 Message too big"
NOT_STORED = "451 4.3.0 Could not store the message, try again later"
LOCAL_ERROR = "451 4.3.0 Local error, try again later"

LONGEST_LINE = 1024 * 1024
"""RFC 5321 allows 998 octets, but real mailers send longer lines; refusing them bounces mail."""
STOP_GRACE = 10.0
"""How long ``stop`` lets messages being stored finish."""


class _SmtpSession(SMTP):
    """aiosmtpd's protocol with our wording for 'too big' and room for long lines."""

    line_length_limit = LONGEST_LINE

    async def push(self, status: str | bytes) -> None:
        # aiosmtpd words both size refusals itself (MAIL ... SIZE= and DATA).
        if isinstance(status, str) and status.startswith("552 "):
            status = TOO_BIG
        await super().push(status)


class _Handler:
    def __init__(
        self,
        accepts: Callable[[str], bool],
        on_mail: OnMail,
        storing: set[asyncio.Task[bool]],
        max_recipients: int,
    ) -> None:
        self._accepts = accepts
        self._on_mail = on_mail
        self._storing = storing
        self._max_recipients = max_recipients

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        mailbox = address.lower()
        if not self._accepts(mailbox):
            return NO_SUCH_MAILBOX.format(address)
        if mailbox in envelope.rcpt_tos:
            return RECIPIENT_OK
        if len(envelope.rcpt_tos) >= self._max_recipients:
            # RFC 5321 4.5.3.1.10: the client sends the rest in another transaction.
            return TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(mailbox)
        envelope.rcpt_options.extend(rcpt_options)
        return RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        client = SmtpClient(str(session.peer[0]) if session.peer else "", session.host_name or "")
        # A client hanging up cancels this hook; storing must not be cut off halfway.
        store = asyncio.create_task(self._store(raw, mail_from, list(envelope.rcpt_tos), client))
        self._storing.add(store)
        store.add_done_callback(self._storing.discard)
        stored = await asyncio.shield(store)
        return STORED if stored else NOT_STORED

    async def _store(
        self, raw: bytes, mail_from: str, rcpt_tos: list[str], client: SmtpClient
    ) -> bool:
        try:
            await self._on_mail(raw, mail_from, rcpt_tos, client)
        except Exception:
            log.exception("could not store a %d byte message from <%s>", len(raw), mail_from)
            return False
        return True

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session failed", exc_info=error)
        return LOCAL_ERROR


class SmtpReceiver:
    """Accepts mail for the addresses ``accepts`` knows, on the running loop.

    Recipient addresses are lower-cased before ``accepts`` sees them and in the
    list ``on_mail`` gets; a null sender (bounces, ``MAIL FROM:<>``) arrives as "".
    Beyond ``max_recipients`` distinct recipients in one transaction, RCPT gets 452.
    """

    def __init__(
        self,
        host: str,
        port: int,
        accepts: Callable[[str], bool],
        on_mail: OnMail,
        *,
        max_bytes: int = 25 * 1024 * 1024,
        max_recipients: int = 100,
        hostname: str = "hub.local",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._max_bytes = max_bytes
        self._hostname = hostname
        self._tls_context = tls_context
        self._storing: set[asyncio.Task[bool]] = set()
        self._handler = _Handler(accepts, on_mail, self._storing, max_recipients)
        self._sessions: weakref.WeakSet[_SmtpSession] = weakref.WeakSet()  # open ones
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("SMTP receiver already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, self._host, self._port)
        log.info("receiving mail on %s:%d", self._host, self.port)

    def _new_session(self) -> _SmtpSession:
        session = _SmtpSession(
            self._handler,
            data_size_limit=self._max_bytes,
            enable_SMTPUTF8=True,
            hostname=self._hostname,
            ident="ESMTP",
            tls_context=self._tls_context,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session

    async def stop(self) -> None:
        """Stop listening, let messages being stored finish, then hang up on clients."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._storing:
            _done, late = await asyncio.wait(set(self._storing), timeout=STOP_GRACE)
            for task in late:
                task.cancel()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()

    async def __aenter__(self) -> SmtpReceiver:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    validate_certs: bool = True
    """Off only for servers with a self-signed certificate you trust some other way."""


async def send_mail(settings: SmtpSettings, message: email.message.EmailMessage) -> str:
    """Hand one message to the server; return its final reply, e.g. "250 2.0.0 Ok: queued"."""
    try:
        refused, reply = await aiosmtplib.send(
            message,
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            timeout=settings.timeout,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            validate_certs=settings.validate_certs,
        )
    except Exception as error:
        raise _hide(_connector_error(settings, error), settings.password) from error
    text = f"250 {reply}"
    if refused:
        # Some recipients have the message: failing now would send it again to them.
        refusals = "; ".join(f"<{addr}> {r.code} {r.message}" for addr, r in refused.items())
        log.warning("%s took the message but refused %s", settings.host, refusals)
        text += f" (refused: {refusals})"
    return text


async def check_relay(settings: SmtpSettings) -> str:
    """Connect, secure and log in as sending would, then say goodbye; what the server said."""
    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security == "tls",
        start_tls=settings.security == "starttls",
        validate_certs=settings.validate_certs,
    )
    try:
        await client.connect()
        if settings.username:
            await client.login(settings.username, settings.password or "")
        reply = await client.noop()
        await client.quit()
    except Exception as error:
        raise _hide(_connector_error(settings, error), settings.password) from error
    return f"{settings.host}:{settings.port} answered {reply.code} {reply.message}"


def _connector_error(settings: SmtpSettings, error: Exception) -> ConnectorError:
    server = f"{settings.host}:{settings.port}"
    match error:
        case aiosmtplib.SMTPRecipientsRefused(recipients=refusals):
            detail = "; ".join(f"<{r.recipient}> {r.code} {r.message}" for r in refusals)
            temporary = all(400 <= r.code < 500 for r in refusals)
            kind = TransientError if temporary else PermanentError
            return kind(f"mail server {server} refused the recipients: {detail}")
        case aiosmtplib.SMTPResponseException(code=code, message=text):
            return _reply_error(server, code, text)
        case aiosmtplib.SMTPTimeoutError():
            return TransientError(f"mail server {server} did not answer in time")
        case _ if _untrusted_certificate(error):
            return PermanentError(f"mail server {server} has a certificate we do not trust")
        case OSError():  # refused, reset, unreachable; aiosmtplib's connection errors too
            return TransientError(f"could not talk to mail server {server}: {error}")
        case aiosmtplib.SMTPException() | ValueError():  # no STARTTLS or AUTH offered, bad address
            return PermanentError(f"cannot send through {server}: {error}")
        case _:
            return TransientError(f"sending through {server} failed: {error!r}")


def _reply_error(server: str, code: int, text: str) -> ConnectorError:
    reason = f"mail server {server} answered {code} {text}"
    if code in (530, 535):
        return AuthFailed(reason)
    if 500 <= code < 600:
        return PermanentError(reason)
    return TransientError(reason)


def _untrusted_certificate(error: BaseException | None) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ssl.SSLCertVerificationError):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _hide(error: ConnectorError, password: str | None) -> ConnectorError:
    """A server may echo what it was sent; the password never reaches a log or an agent."""
    if not password or password not in error.reason:
        return error
    return type(error)(error.reason.replace(password, "********"))
