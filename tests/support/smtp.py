"""A real SMTP server (aiosmtpd) standing in for the mail provider the hub sends through.

It runs aiosmtpd's protocol on the test's own event loop, bound to port 0:
no thread and no port guessing (aiosmtpd's threaded ``Controller`` cannot
take port 0 in 1.4.6).
"""

from __future__ import annotations

import asyncio
import email.policy
import os
import shutil
import ssl
import subprocess
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from connectors.email.smtp import SmtpSettings

AUTH_REQUIRED = "530 5.7.0 Authentication required"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


class SmtpPeer:
    """Records every message it accepts; answers RCPT and DATA from scripts, then with 250.

    ``answer_rcpt("550 5.1.1 user unknown")`` refuses the next recipient,
    ``answer_data("451 4.3.0 try later")`` the next message. With ``users``,
    mail is refused until the client logged in (PLAIN or LOGIN, TLS not needed).
    """

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        tls: Literal["starttls", "tls"] | None = None,
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        self.received: list[ReceivedMail] = []
        self.logins: list[tuple[str, bool]] = []
        self.rcpt_script: deque[str] = deque()
        self.data_script: deque[str] = deque()
        self.users = users
        self.tls = tls
        self.tls_context: ssl.SSLContext | None = None
        if tls is not None:
            assert certificate is not None, "TLS needs a certificate: see self_signed()"
            self.tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_context.load_cert_chain(*certificate)
        self.host = "127.0.0.1"
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []

    def answer_rcpt(self, *replies: str) -> None:
        self.rcpt_script.extend(replies)

    def answer_data(self, *replies: str) -> None:
        self.data_script.extend(replies)

    @property
    def port(self) -> int:
        assert self._server is not None, "peer not started"
        return int(self._server.sockets[0].getsockname()[1])

    def settings(self, **overrides: Any) -> SmtpSettings:
        security = {"starttls": "starttls", "tls": "tls", None: "none"}[self.tls]
        values: dict[str, Any] = {"security": security, "timeout": 5.0, **overrides}
        return SmtpSettings(self.host, self.port, **values)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.users is not None and not session.authenticated:
            return AUTH_REQUIRED
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_script.popleft() if self.rcpt_script else "250 2.1.5 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        reply = self.data_script.popleft() if self.data_script else "250 2.0.0 Ok: queued"
        if reply.startswith("250"):
            raw = envelope.original_content or b""
            lines = raw.replace(b"\r\n", b"\n")  # the email package works in \n
            message = BytesParser(policy=email.policy.default).parsebytes(lines)
            assert isinstance(message, EmailMessage)
            mail_from = envelope.mail_from or ""
            self.received.append(ReceivedMail(mail_from, list(envelope.rcpt_tos), raw, message))
        return reply

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        ok = self.users is not None and self.users.get(login) == password
        self.logins.append((login, ok))
        # handled=False: aiosmtpd's default (True) means "I already replied", and then
        # nobody answers a failed login at all.
        return AuthResult(success=ok, handled=False)

    def _new_session(self) -> SMTP:
        session = SMTP(
            self,
            hostname="peer.test",
            tls_context=self.tls_context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            auth_require_tls=False,
            authenticator=self._authenticate,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.append(session)
        return session

    async def __aenter__(self) -> SmtpPeer:
        loop = asyncio.get_running_loop()
        implicit_tls = self.tls_context if self.tls == "tls" else None
        self._server = await loop.create_server(self._new_session, self.host, 0, ssl=implicit_tls)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()


def self_signed(directory: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate and key for ``name`` made with the openssl CLI (an EC key: fast)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-subj", f"/CN={name}", "-addext", f"subjectAltName=IP:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def swaks_path() -> str:
    """Debian's swaks, a real SMTP client; in CI its absence is a failure, elsewhere a skip."""
    path = shutil.which("swaks")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("swaks is not installed: .ci/run installs it with apt-get")
    pytest.skip("swaks is not installed (apt-get install swaks)")
