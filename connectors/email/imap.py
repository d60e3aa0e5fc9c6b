"""IMAP import for the email channel: every message once, in UID order, across restarts.

The cursor is the mailbox's (UIDVALIDITY, last imported UID), saved by the
caller after each message, so a restart resumes where it stopped and a
message deleted on the server after import never comes back. When the
server renumbers the mailbox (a new UIDVALIDITY) the import starts again
from the first message; the caller drops duplicates by Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import aioimaplib

from connectors.base import AuthFailed, TransientError

log = logging.getLogger(__name__)

IDLE_SECONDS = 29 * 60
"""RFC 2177: re-issue IDLE at least every 29 minutes, or the server may log us out."""
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
CLOSE_SECONDS = 5.0
UNBOUNDED = float("inf")

T = TypeVar("T")


class MailboxState(Protocol):
    async def load(self, mailbox: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, last imported UID); ``(None, 0)`` if nothing was imported yet."""
        ...

    async def save(self, mailbox: str, uidvalidity: int, last_uid: int) -> None: ...


OnMessage = Callable[[int, bytes], Awaitable[None]]
"""Takes (UID, raw RFC 822 bytes). Raising means "not stored": the message is tried again."""


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


class ImapError(TransientError):
    """The connection failed, dropped or timed out, or the server refused a command."""


class ImapLoginRefused(AuthFailed):
    """The server refused our username and password."""


class MessageNotStored(TransientError):
    """``on_message`` raised for ``uid``; the cause is chained."""

    def __init__(self, uid: int, reason: str) -> None:
        super().__init__(reason)
        self.uid = uid


class ImapPoller:
    """Imports new messages from one mailbox. Not meant for concurrent callers."""

    def __init__(self, settings: ImapSettings, state: MailboxState, on_message: OnMessage) -> None:
        self.settings = settings
        self.state = state
        self.on_message = on_message
        self._connection: _Connection | None = None

    async def poll_once(self) -> int:
        """Import what is new since the saved cursor; how many messages were imported.

        Raises :class:`MessageNotStored` when ``on_message`` fails (earlier
        messages stay imported), :class:`ImapLoginRefused` or :class:`ImapError`.
        """
        connection = await self._connected()
        try:
            return await self._import_new(connection)
        except MessageNotStored:
            raise
        except BaseException:
            self._abort()  # it may be in the middle of a command: never reuse it
            raise

    async def _import_new(self, connection: _Connection) -> int:
        mailbox = self.settings.mailbox
        selected = await connection.command("SELECT", connection.client.select(quote(mailbox)))
        uidvalidity = uidvalidity_of(selected)
        saved_validity, last_uid = await self.state.load(mailbox)
        if saved_validity != uidvalidity:
            if saved_validity is not None:
                log.warning(
                    "IMAP %s: UIDVALIDITY changed from %s to %s, importing the mailbox again",
                    self._where(),
                    saved_validity,
                    uidvalidity,
                )
            last_uid = 0
        imported = 0
        for uid in await self._uids_after(connection, last_uid):
            raw = await self._fetch(connection, uid)
            if raw is None:
                continue  # expunged since the search
            try:
                await self.on_message(uid, raw)
            except Exception as error:
                raise MessageNotStored(
                    uid, f"message UID {uid} was not stored: {error!r}"
                ) from error
            await self.state.save(mailbox, uidvalidity, uid)
            imported += 1
            await self._after_import(connection, uid)
        return imported

    async def run(self) -> None:
        """Poll, then wait for mail (IDLE, else ``poll_seconds``), until cancelled."""
        failures = 0
        try:
            while True:
                try:
                    await self.poll_once()
                    failures = 0
                    await self._wait_for_mail()
                except Exception as error:
                    failures += 1
                    delay = min(FIRST_BACKOFF * 2 ** (failures - 1), MAX_BACKOFF)
                    self._log_failure(error, delay)
                    await self.close()
                    await asyncio.sleep(delay)
        finally:
            await self.close()

    async def close(self) -> None:
        """Log out and hang up. Cancel :meth:`run` first, or it reconnects."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def _abort(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.abort()

    async def _connected(self) -> _Connection:
        if self._connection is not None and not self._connection.lost.is_set():
            return self._connection
        if self._connection is not None:
            log.info("IMAP %s: connection closed by the server, reconnecting", self._where())
            await self.close()
        self._connection = await _Connection.open(self.settings)
        log.info("IMAP %s: connected", self._where())
        return self._connection

    async def _uids_after(self, connection: _Connection, last_uid: int) -> list[int]:
        # "n:*" always matches the newest message, even when its UID is below n.
        found = await connection.command(
            "UID SEARCH", connection.client.uid_search("UID", f"{last_uid + 1}:*", charset=None)
        )
        # aioimaplib hands over "* SEARCH 4 5" as b"4 5" (older versions kept "SEARCH").
        uids = {
            int(token)
            for line in found.lines[:-1]
            if isinstance(line, bytes)
            for token in line.split()
            if token.isdigit()
        }
        return sorted(uid for uid in uids if uid > last_uid)

    async def _fetch(self, connection: _Connection, uid: int) -> bytes | None:
        # No overall deadline: a large message may take long; aioimaplib times out when it stalls.
        fetched = await connection.command(
            "UID FETCH",
            connection.client.uid("FETCH", str(uid), "(BODY.PEEK[])"),
            limit=UNBOUNDED,
        )
        return body_of(uid, fetched.lines)

    async def _after_import(self, connection: _Connection, uid: int) -> None:
        action = self.settings.after_import
        if action == "seen":
            await self._store(connection, uid, r"(\Seen)")
        elif action == "move":
            assert self.settings.move_to is not None
            await self._move(connection, uid, quote(self.settings.move_to))
        elif action == "delete":
            await self._delete(connection, uid)

    async def _store(self, connection: _Connection, uid: int, flags: str) -> None:
        client = connection.client
        await connection.command("UID STORE", client.uid("STORE", str(uid), "+FLAGS.SILENT", flags))

    async def _move(self, connection: _Connection, uid: int, folder: str) -> None:
        client = connection.client
        can_move = client.has_capability("MOVE")
        verb = "UID MOVE" if can_move else "UID COPY"
        for attempt in (1, 2):
            answer = await connection.run(verb, client.uid(verb[4:], str(uid), folder))
            if answer.result == "OK":
                break
            if attempt == 1 and b"TRYCREATE" in answer_text(answer).encode():
                log.info("IMAP %s: creating folder %s", self._where(), folder)
                await connection.command("CREATE", client.create(folder))
                continue
            raise ImapError(f"{verb} to {folder} refused: {answer_text(answer)}")
        if not can_move:
            await self._delete(connection, uid)

    async def _delete(self, connection: _Connection, uid: int) -> None:
        client = connection.client
        await self._store(connection, uid, r"(\Deleted)")
        if client.has_capability("UIDPLUS"):
            await connection.command("UID EXPUNGE", client.uid("EXPUNGE", str(uid)))
        else:
            await connection.command("EXPUNGE", client.expunge())

    async def _wait_for_mail(self) -> None:
        """IDLE if the server can, else sleep; either way poll again after ``poll_seconds``.

        Polling on while idling is a safety net: aioimaplib drops an EXISTS the
        server sends while another command runs, so a message arriving during
        a pass may not be announced again.
        """
        connection = self._connection
        if connection is not None and connection.client.has_capability("IDLE"):
            await connection.idle_until_new_mail(min(self.settings.poll_seconds, IDLE_SECONDS))
        else:
            await asyncio.sleep(self.settings.poll_seconds)

    def _where(self) -> str:
        s = self.settings
        return f"{s.username}@{s.host}:{s.port}/{s.mailbox}"

    def _log_failure(self, error: Exception, delay: float) -> None:
        where = self._where()
        if isinstance(error, ImapLoginRefused):
            log.error("IMAP %s: %s; retrying in %.0fs", where, error, delay)
        elif isinstance(error, MessageNotStored | ImapError):
            log.warning("IMAP %s: %s; retrying in %.0fs", where, error, delay)
        else:
            log.error(
                "IMAP %s: unexpected failure; retrying in %.0fs", where, delay, exc_info=error
            )


class _Connection:
    """One logged-in aioimaplib client that notices when the server hangs up.

    aioimaplib leaves a command waiting forever when the connection drops, so
    every command here races the connection-lost signal and a deadline.
    """

    def __init__(self, client: aioimaplib.IMAP4, lost: asyncio.Event, timeout: float) -> None:
        self.client = client
        self.lost = lost
        self.timeout = timeout
        self._idle: asyncio.Future[aioimaplib.Response] | None = None

    @classmethod
    async def open(cls, settings: ImapSettings) -> _Connection:
        lost = asyncio.Event()
        client = aioimaplib.IMAP4(
            host=settings.host,
            port=settings.port,
            timeout=settings.timeout,
            conn_lost_cb=lambda _error: lost.set(),
            ssl_context=ssl.create_default_context() if settings.ssl else None,
        )
        connection = cls(client, lost, settings.timeout)
        try:
            await connection.run("connect", client.wait_hello_from_server())
            answer = await connection.run(
                "LOGIN", client.login(quote(settings.username), settings.password)
            )
            if answer.result != "OK":
                raise ImapLoginRefused(
                    f"login as {settings.username} refused: {answer_text(answer)}"
                )
            # The capabilities before login are not the ones after (Dovecot adds MOVE, UIDPLUS).
            await connection.run("CAPABILITY", client.protocol.capability())
        except BaseException:
            connection.abort()
            raise
        return connection

    async def run(self, what: str, step: Awaitable[T], limit: float | None = None) -> T:
        """Await one aioimaplib step; :class:`ImapError` if it fails, times out or the line drops.

        ``limit`` defaults to the connection's timeout; :data:`UNBOUNDED` sets no deadline.
        """
        seconds = self.timeout if limit is None else limit
        work = asyncio.ensure_future(step)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait(
                {work, lost},
                timeout=None if seconds == UNBOUNDED else seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            lost.cancel()
            if not work.done():
                work.cancel()
        if work in done:
            try:
                return work.result()
            except (aioimaplib.AioImapException, OSError, TimeoutError, ValueError) as error:
                raise ImapError(f"{what} failed: {type(error).__name__} {error}".strip()) from error
        if lost in done:
            raise ImapError(f"{what}: the server closed the connection")
        raise ImapError(f"{what}: no answer within {seconds:.0f}s")

    async def command(
        self, what: str, step: Awaitable[aioimaplib.Response], limit: float | None = None
    ) -> aioimaplib.Response:
        answer = await self.run(what, step, limit)
        if answer.result != "OK":
            raise ImapError(f"{what} refused: {answer.result} {answer_text(answer)}")
        return answer

    async def idle_until_new_mail(self, seconds: float) -> None:
        """IDLE until the server announces a new message (EXISTS) or ``seconds`` pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self._idle = await self.run("IDLE", self.client.idle_start(timeout=seconds))
        while (remaining := deadline - loop.time()) > 0:
            try:
                pushed = await self.run("IDLE", self.client.wait_server_push(remaining), UNBOUNDED)
            except ImapError as error:
                if isinstance(error.__cause__, TimeoutError):
                    break
                raise
            if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                break
            if any(isinstance(line, bytes) and line.endswith(b"EXISTS") for line in pushed):
                break
        self.client.idle_done()
        await self.command("IDLE", self._idle)

    async def close(self) -> None:
        """Log out politely when the connection can still answer, then hang up."""
        idling = self._idle is not None and not self._idle.done()
        connected = self.client.get_state() in (aioimaplib.AUTH, aioimaplib.SELECTED)
        if connected and not idling and not self.lost.is_set():
            try:
                await self.run("LOGOUT", self.client.logout(), CLOSE_SECONDS)
            except ImapError as error:
                log.debug("IMAP logout failed: %s", error)
        self.abort()

    def abort(self) -> None:
        """Hang up at once, whatever state the conversation is in."""
        if self._idle is not None:
            self._idle.cancel()
        connecting = getattr(self.client, "_client_task", None)
        if connecting is not None and not connecting.done():
            connecting.cancel()
        transport = self.client.protocol.transport
        if transport is not None:
            transport.close()


def quote(name: str) -> str:
    """An IMAP quoted string (RFC 3501); non-ASCII folder names would need modified UTF-7."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def answer_text(answer: aioimaplib.Response) -> str:
    return bytes(answer.lines[-1] if answer.lines else b"").decode(errors="replace")


def uidvalidity_of(selected: aioimaplib.Response) -> int:
    for line in selected.lines:
        match = re.search(rb"\[UIDVALIDITY (\d+)\]", line) if isinstance(line, bytes) else None
        if match:
            return int(match[1])
    raise ImapError("SELECT answer has no UIDVALIDITY")


FETCH_START = re.compile(rb"\d+ FETCH \(")


def body_of(uid: int, lines: list[bytes | bytearray]) -> bytes | None:
    """The BODY[] literal fetched for ``uid``; ``None`` if the server sent none (expunged).

    Lines alternate FETCH text and literals; the UID may come before or after
    the body, and other messages' flag updates may be mixed in.
    """
    records: list[tuple[bytes, bytes | None]] = []
    for line in lines:
        if isinstance(line, bytearray):
            if records:
                records[-1] = (records[-1][0], bytes(line))
        elif FETCH_START.match(line):
            records.append((line, None))
        elif records:
            records[-1] = (records[-1][0] + b" " + line, records[-1][1])
    for text, body in records:
        match = re.search(rb"UID (\d+)", text)
        if body is not None and match and int(match[1]) == uid:
            return body
    return None
