"""One logged-in IMAP conversation over imapclient (BSD licence), blocking by design.

imapclient is synchronous, so a :class:`MailboxSession` lives on a thread of
its own (:mod:`connectors.email.imap_thread`); only :meth:`MailboxSession.hang_up`
may be called from another thread, to wake whatever the session is blocked in.
Every library failure becomes an :class:`ImapError` (retried) or
:class:`ImapLoginRefused` (not retried) through :func:`as_imap_error`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import selectors
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from connectors.base import AuthFailed, TransientError

log = logging.getLogger(__name__)

TRANSIENT_LOGIN_CODES = ("[UNAVAILABLE]", "[INUSE]")
"""RFC 5530: the server could not check the credentials just now, so the login may work later."""


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    ssl: bool = True
    poll_seconds: float = 60.0
    after_import: Literal["keep", "seen", "move", "delete"] = "seen"
    move_to: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.after_import not in ("keep", "seen", "move", "delete"):
            raise ValueError(
                f"after_import must be keep, seen, move or delete: {self.after_import!r}"
            )
        if self.after_import == "move" and not self.move_to:
            raise ValueError("after_import 'move' needs move_to, the folder to move messages to")
        for name in ("username", "mailbox", "move_to"):
            value = getattr(self, name)
            if value is not None and re.search(r"[\x00\r\n]", value):
                raise ValueError(f"{name} must not contain NUL, CR or LF")

    @property
    def where(self) -> str:
        """The mailbox for log lines: no password."""
        return f"{self.username}@{self.host}:{self.port}/{self.mailbox}"


class ImapError(TransientError):
    """The connection failed, dropped or timed out, or the server refused a command."""


class ImapLoginRefused(AuthFailed):
    """The server refused our username and password."""


class MailboxSession:
    """An IMAP conversation, logged in; each method blocks until the server has answered."""

    def __init__(self, client: IMAPClient) -> None:
        self.client = client
        self.idling = False

    @classmethod
    def open(cls, settings: ImapSettings) -> MailboxSession:
        """Connect (TLS unless ``ssl`` is off) and log in."""
        context = ssl.create_default_context() if settings.ssl else None
        client = IMAPClient(
            settings.host,
            settings.port,
            ssl=settings.ssl,
            ssl_context=context,
            timeout=settings.timeout,
        )
        session = cls(client)
        try:
            client.login(settings.username, settings.password)
        except BaseException:
            session.release()
            raise
        return session

    def can(self, capability: str) -> bool:
        """What the server offers once logged in (Dovecot adds MOVE and UIDPLUS then)."""
        return bool(self.client.has_capability(capability))

    def select(self, mailbox: str) -> int:
        """Select ``mailbox``; its UIDVALIDITY."""
        selected = self.client.select_folder(mailbox)
        self.mail_announced()  # what SELECT counted is no news
        if b"UIDVALIDITY" not in selected:
            raise ImapError("SELECT answer has no UIDVALIDITY")
        return int(selected[b"UIDVALIDITY"])

    def mail_announced(self) -> bool:
        """Whether the server announced mail (EXISTS) alongside a command since the last look.

        Such news is not repeated when IDLE starts: mail that came during a
        pass would wait for the next poll. imaplib keeps it in ``untagged_responses``.
        """
        return bool(self.client._imap.untagged_responses.pop("EXISTS", None))

    def uids_after(self, last_uid: int) -> list[int]:
        # "n:*" always matches the newest message, even when its UID is below n.
        found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in set(found) if uid > last_uid)

    def fetch(self, uid: int) -> bytes | None:
        """The raw message, left unread (BODY.PEEK); ``None`` if it was expunged meanwhile."""
        fetched: dict[int, dict[bytes, Any]] = self.client.fetch([uid], ["BODY.PEEK[]"])
        body = fetched.get(uid, {}).get(b"BODY[]")
        return bytes(body) if body is not None else None

    def mark_seen(self, uid: int) -> None:
        self.client.add_flags([uid], [SEEN], silent=True)

    def move(self, uid: int, folder: str) -> None:
        """MOVE (else COPY and delete) to ``folder``, creating it if the server says so."""
        can_move = self.can("MOVE")
        transfer = self.client.move if can_move else self.client.copy
        try:
            transfer([uid], folder)
        except IMAPClientError as refused:
            if "[TRYCREATE]" not in str(refused):
                raise
            log.info("IMAP: creating folder %s", folder)
            self.client.create_folder(folder)
            transfer([uid], folder)
        if not can_move:
            self.delete(uid)

    def delete(self, uid: int) -> None:
        """Flag ``\\Deleted`` and expunge: only this message when the server can (UIDPLUS)."""
        self.client.add_flags([uid], [DELETED], silent=True)
        if self.can("UIDPLUS"):
            self.client.uid_expunge([uid])
        else:
            self.client.expunge()

    def start_idle(self) -> None:
        self.client.idle()
        self.idling = True

    def wait_for_news(self, seconds: float) -> bool:
        """Idle up to ``seconds``; ``True`` when the server announced mail or hung up.

        Other news (flag changes, "still here") keeps the idle going. Readable
        yet nothing to read means the connection closed; :meth:`end_idle`
        then says so, and reads whatever news was already buffered.
        """
        if self._unread():
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(self.client.socket(), selectors.EVENT_READ)
            if not selector.select(seconds):
                return False
        responses = self.client.idle_check(timeout=0)
        return not responses or any(ends_idle(response) for response in responses)

    def _unread(self) -> bool:
        """Whether the server's words already wait in a read buffer, where a select on the
        socket cannot see them: the IDLE's first news often comes with its go-ahead."""
        sock = self.client.socket()
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            return bool(self.client._imap.file.peek(1))  # imaplib's buffered reader
        except OSError:  # nothing there (EAGAIN, TLS wants to read)
            return False
        finally:
            sock.settimeout(timeout)

    def end_idle(self) -> None:
        self.idling = False
        self.client.idle_done()

    def log_out(self) -> None:
        if self.idling:
            self.end_idle()
        self.client.logout()

    def hang_up(self) -> None:
        """Shut the socket down, from any thread: a read blocked on it returns at once.

        The socket's own ``shutdown`` (not the TLS layer's), so a thread in the
        middle of a TLS read is not pulled out from under its feet.
        """
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.client.socket(), socket.SHUT_RDWR)

    def release(self) -> None:
        """Close the socket (on the session's own thread: nothing may be reading it)."""
        with contextlib.suppress(OSError, IMAPClientError):
            self.client.shutdown()


def ends_idle(response: tuple[Any, ...]) -> bool:
    """A new message (``* n EXISTS``) or the server saying goodbye (``* BYE``)."""
    return b"EXISTS" in response[:2] or response[:1] == (b"BYE",)


def as_imap_error(what: str, error: Exception, username: str) -> ImapError | ImapLoginRefused:
    """What a failed step means for the mailbox: retry (ImapError) or stop (login refused)."""
    reason = text_of(error)
    if isinstance(error, LoginError):
        if any(code in reason for code in TRANSIENT_LOGIN_CODES):
            return ImapError(f"login as {username} failed for now: {reason}")
        return ImapLoginRefused(f"login as {username} refused: {reason}")
    if isinstance(error, ConnectionError) or "EOF" in reason:
        return ImapError(f"{what}: the server closed the connection")
    if isinstance(error, TimeoutError):
        return ImapError(f"{what}: no answer in time")
    return ImapError(f"{what} failed: {type(error).__name__} {reason}".strip())


def text_of(error: Exception) -> str:
    """The error's words; imaplib puts the server's answer in as ``repr(bytes)``."""
    text = str(error)
    quoted = re.fullmatch(r"b(['\"])(.*)\1", text)
    return quoted[2] if quoted else text
