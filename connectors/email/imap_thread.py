"""An IMAP session on a thread of its own, awaited from the event loop.

imapclient blocks, so each mailbox gets one worker thread: its steps run there
one at a time (a session is not thread-safe), a slow FETCH holds up no other
work, and the event loop never waits on the network. Cancelling an await does
not stop the thread; :meth:`MailboxThread.close` does, by shutting the socket
down, which wakes a blocked read at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from connectors.base import ConnectorError
from connectors.email.imap_session import (
    ImapError,
    ImapSettings,
    MailboxSession,
    as_imap_error,
)

log = logging.getLogger(__name__)

CLOSE_SECONDS = 5.0
"""The most a close waits for the server's goodbye, and for the thread to let go.

(With ``asyncio.timeout``: Python 3.11's ``wait_for`` can swallow a cancellation
that comes as the awaited step finishes, and a stopped poller would go on.)"""

P = ParamSpec("P")
T = TypeVar("T")


class MailboxThread:
    """One logged-in :class:`MailboxSession` and the thread it runs on."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap")
        self._lock = threading.Lock()
        self._session: MailboxSession | None = None
        self._closed = False
        self._busy: Future[Any] | None = None

    @classmethod
    async def open(cls, settings: ImapSettings) -> MailboxThread:
        """Connect and log in; :class:`ImapError` or :class:`ImapLoginRefused` if that fails."""
        mailbox = cls(settings)
        try:
            await mailbox._run("connect", mailbox._connect)
        except BaseException:
            await mailbox.close()
            raise
        return mailbox

    async def call(
        self,
        what: str,
        step: Callable[Concatenate[MailboxSession, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``step(session, *args)`` on the thread; ``what`` names it in the error if it fails."""
        return await self._run(what, partial(self._on_session, step, *args, **kwargs))

    async def close(self) -> None:
        """Log out if the session is between steps, else hang up; then free the socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            session = self._session
        if session is not None:
            if self._busy is None or self._busy.done():
                await self._log_out(session)
            session.hang_up()
        released = self._executor.submit(self._release)
        self._executor.shutdown(wait=False)
        with contextlib.suppress(TimeoutError):  # a connect under way releases by itself
            async with asyncio.timeout(CLOSE_SECONDS):
                await asyncio.shield(asyncio.wrap_future(released))

    async def _run(self, what: str, work: Callable[[], T]) -> T:
        if self._closed:
            raise ImapError(f"{what}: the connection was closed")
        self._busy = busy = self._executor.submit(work)
        try:
            return await asyncio.wrap_future(busy)
        except ConnectorError:
            raise
        except Exception as error:
            raise as_imap_error(what, error, self.settings.username) from error

    async def _log_out(self, session: MailboxSession) -> None:
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._run("LOGOUT", session.log_out)
        except (ConnectorError, TimeoutError) as error:
            log.debug("IMAP %s: logout failed: %s", self.settings.where, error)

    def _connect(self) -> None:
        """On the thread: log in, and keep the session unless closed meanwhile."""
        session = MailboxSession.open(self.settings)
        with self._lock:
            if not self._closed:
                self._session = session
                return
        session.release()

    def _on_session(
        self, step: Callable[Concatenate[MailboxSession, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        session = self._session
        if session is None:
            raise ImapError("not connected")
        return step(session, *args, **kwargs)

    def _release(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            session.release()
