"""IMAP import for the email channel: every message once, in UID order, across restarts.

The cursor is the mailbox's (UIDVALIDITY, last imported UID), stored in the
same transaction as each message, so a restart resumes where it stopped and a
message deleted on the server after import never comes back. When the server
renumbers the mailbox (a new UIDVALIDITY) the import starts again from the
first message; the hub drops duplicates by Message-ID.

The IMAP conversation itself is imapclient's, on a thread of its own
(:mod:`connectors.email.imap_thread`); this module decides what to say.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from connectors.base import ConnectorError, Cursor, TransientError
from connectors.email.imap_session import (
    ImapError,
    ImapLoginRefused,
    ImapSettings,
    MailboxSession,
)
from connectors.email.imap_thread import MailboxThread
from connectors.retry import Backoff, Session, Sleep, keep_trying, unexpected

__all__ = [
    "ImapError",
    "ImapLoginRefused",
    "ImapPoller",
    "ImapSettings",
    "MailboxCursors",
    "MessageNotStored",
    "OnMessage",
]

log = logging.getLogger(__name__)

IDLE_SECONDS = 29 * 60
"""RFC 2177: re-issue IDLE at least every 29 minutes, or the server may log us out."""
IDLE_SLICE = 1.0
"""One wait on the worker thread while idling: a stop is noticed within it at the latest."""

LoadState = Callable[[str], Awaitable[str | None]]

OnMessage = Callable[[bytes, Cursor], Awaitable[None]]
"""Stores one raw RFC 822 message together with its cursor (``hub.ingest(..., cursor=)``).

Raising means "not stored": the message is tried again.
"""


class MailboxCursors:
    """Where each mailbox's import stands: ``"<UIDVALIDITY>:<last UID>"`` in the hub's state,
    under ``"<channel>:imap:<mailbox>"``."""

    def __init__(self, channel: str, load_state: LoadState) -> None:
        self.channel = channel
        self.load_state = load_state

    def key(self, mailbox: str) -> str:
        return f"{self.channel}:imap:{mailbox}"

    async def load(self, mailbox: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, last imported UID); ``(None, 0)`` if nothing was imported yet."""
        stored = await self.load_state(self.key(mailbox))
        if not stored:
            return None, 0
        validity, _, last = stored.partition(":")
        return int(validity), int(last)

    def cursor(self, mailbox: str, uidvalidity: int, uid: int) -> Cursor:
        return Cursor(self.key(mailbox), f"{uidvalidity}:{uid}")


class MessageNotStored(TransientError):
    """``on_message`` raised for ``uid``; the cause is chained."""

    def __init__(self, uid: int, reason: str) -> None:
        super().__init__(reason)
        self.uid = uid


class ImapPoller:
    """Imports new messages from one mailbox. Not meant for concurrent callers.

    ``channel`` names the mailbox in log lines; ``backoff`` and ``sleep`` pace
    the tries after a failure, ``on_stop`` hears of a refused login
    (:func:`connectors.retry.keep_trying`).
    """

    def __init__(
        self,
        channel: str,
        settings: ImapSettings,
        cursors: MailboxCursors,
        on_message: OnMessage,
        *,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
        on_stop: Callable[[ConnectorError], None] | None = None,
    ) -> None:
        self.what = f"email {channel}: IMAP {settings.where}"
        self.settings = settings
        self.cursors = cursors
        self.on_message = on_message
        self.backoff = backoff
        self.sleep = sleep
        self.on_stop = on_stop
        self._mailbox: MailboxThread | None = None

    async def poll_once(self) -> int:
        """Import what is new since the saved cursor; how many messages were imported.

        Raises :class:`MessageNotStored` when ``on_message`` fails (earlier
        messages stay imported), :class:`ImapLoginRefused` or :class:`ImapError`.
        """
        mailbox = await self._connected()
        try:
            return await self._import_new(mailbox)
        except MessageNotStored:
            raise
        except BaseException:
            await self.close()  # it may be in the middle of a command: never reuse it
            raise

    async def run(self) -> None:
        """Poll, then wait for mail (IDLE, else ``poll_seconds``), until cancelled.

        Trouble is retried with backoff; a refused login stops it with one ERROR.
        """
        try:
            await keep_trying(
                self.what,
                self._keep_importing,
                log=log,
                backoff=self.backoff,
                classify=self._classify,
                sleep=self.sleep,
                on_stop=self.on_stop,
            )
        finally:
            await self.close()

    async def close(self) -> None:
        """Log out and hang up. Cancel :meth:`run` first, or it reconnects."""
        mailbox, self._mailbox = self._mailbox, None
        if mailbox is not None:
            await mailbox.close()

    async def _keep_importing(self, session: Session) -> None:
        try:
            while True:
                await self.poll_once()
                session.connected()
                await self._wait_for_mail()
        except Exception:
            await self.close()
            raise

    async def _connected(self) -> MailboxThread:
        if self._mailbox is None:
            self._mailbox = await MailboxThread.open(self.settings)
            log.info("%s: connected", self.what)
        return self._mailbox

    async def _import_new(self, mailbox: MailboxThread) -> int:
        name = self.settings.mailbox
        uidvalidity = await mailbox.call("SELECT", MailboxSession.select, name)
        saved_validity, last_uid = await self.cursors.load(name)
        if saved_validity != uidvalidity:
            if saved_validity is not None:
                log.warning(
                    "%s: UIDVALIDITY changed from %s to %s, importing the mailbox again",
                    self.what,
                    saved_validity,
                    uidvalidity,
                )
            last_uid = 0
        imported = 0
        for uid in await mailbox.call("UID SEARCH", MailboxSession.uids_after, last_uid):
            raw = await mailbox.call("UID FETCH", MailboxSession.fetch, uid)
            if raw is None:
                continue  # expunged since the search
            try:
                await self.on_message(raw, self.cursors.cursor(name, uidvalidity, uid))
            except Exception as error:
                raise MessageNotStored(
                    uid, f"message UID {uid} was not stored: {error!r}"
                ) from error
            imported += 1
            await self._after_import(mailbox, uid)
        return imported

    async def _after_import(self, mailbox: MailboxThread, uid: int) -> None:
        action = self.settings.after_import
        if action == "seen":
            await mailbox.call("UID STORE", MailboxSession.mark_seen, uid)
        elif action == "move":
            assert self.settings.move_to is not None
            await mailbox.call("UID MOVE", MailboxSession.move, uid, self.settings.move_to)
        elif action == "delete":
            await mailbox.call("UID EXPUNGE", MailboxSession.delete, uid)

    async def _wait_for_mail(self) -> None:
        """IDLE if the server can, else sleep; either way poll again after ``poll_seconds``.

        Not at all if mail was announced during the pass: it comes next. Polling
        on while idling is a safety net for whatever else slips through.
        """
        mailbox = await self._connected()
        if await mailbox.call("IDLE", MailboxSession.mail_announced):
            return
        if await mailbox.call("CAPABILITY", MailboxSession.can, "IDLE"):
            await self._idle(mailbox, min(self.settings.poll_seconds, IDLE_SECONDS))
        else:
            await asyncio.sleep(self.settings.poll_seconds)

    async def _idle(self, mailbox: MailboxThread, seconds: float) -> None:
        """IDLE until the server announces a new message or hangs up, or ``seconds`` pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        await mailbox.call("IDLE", MailboxSession.start_idle)
        while (remaining := deadline - loop.time()) > 0:
            if await mailbox.call("IDLE", MailboxSession.wait_for_news, min(remaining, IDLE_SLICE)):
                break
        await mailbox.call("IDLE", MailboxSession.end_idle)

    def _classify(self, error: Exception) -> ConnectorError:
        """Our own errors as they are; anything else is a bug: logged with its traceback."""
        if not isinstance(error, ConnectorError):
            log.error("%s: unexpected failure", self.what, exc_info=error)
        return unexpected(error)
