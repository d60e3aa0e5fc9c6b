"""The one retry loop: capped exponential backoff with jitter, reset after a good connection.

Every long-lived session the hub keeps with a peer (a bot's polling, an IMAP
mailbox, the PostgreSQL event relay, a leader lock) runs inside
:func:`keep_trying`; the outbox schedules its per-message retries with the same
:class:`Backoff`. What happens after a failure is decided by the error's type
(:mod:`connectors.base`): a :class:`~connectors.base.TransientError` is tried
again, :class:`~connectors.base.RateLimited` after the time the peer asked for,
and a :class:`~connectors.base.PermanentError` (a refused credential) stops the
session with one ERROR, because retrying would only hammer the peer.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from connectors.base import ConnectorError, PermanentError, RateLimited, TransientError

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_RETRY_AFTER = 5.0
"""Seconds to wait after a rate limit that did not say how long."""


def retry_after_seconds(header: str | None, default: float = DEFAULT_RETRY_AFTER) -> float:
    """A ``Retry-After`` header in seconds (never negative); ``default`` when absent or odd."""
    try:
        return max(0.0, float(header)) if header else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Backoff:
    """Seconds to wait after the n-th failure in a row: half fixed, half random, capped."""

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, failures: int) -> float:
        """The wait after failure number ``failures`` (1-based).

        Half the capped exponential delay is fixed, half is random, so peers
        recovering from an outage are not hit by every client at once.
        """
        ceiling = min(self.cap, self.base * 2 ** (max(failures, 1) - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def after(self, failures: int, error: ConnectorError) -> float:
        """The wait after ``error``: what a rate limit asked for, else :meth:`delay`."""
        if isinstance(error, RateLimited):
            return max(error.retry_after, 0.0)
        return self.delay(failures)


class Session:
    """Handed to each try: call :meth:`connected` once the peer is working, to reset the count."""

    def __init__(self) -> None:
        self.failures = 0

    def connected(self) -> None:
        self.failures = 0


Classify = Callable[[Exception], ConnectorError]
"""Turns what a library raised into the hub's error family (which decides retry or stop)."""


def unexpected(error: Exception) -> ConnectorError:
    """The default classification: anything not already a connector error is transient."""
    if isinstance(error, ConnectorError):
        return error
    return TransientError(f"{type(error).__name__}: {error}")


async def keep_trying(
    what: str,
    attempt: Callable[[Session], Awaitable[None]],
    *,
    log: logging.Logger,
    backoff: Backoff | None = None,
    classify: Classify = unexpected,
    sleep: Sleep = asyncio.sleep,
    on_stop: Callable[[ConnectorError], None] | None = None,
) -> ConnectorError | None:
    """Run ``attempt`` until it returns, trying again after each transient failure.

    ``what`` names the session in every log line (``"telegram support: polling"``).
    A :class:`PermanentError` stops the loop with one ERROR and is returned (and
    passed to ``on_stop``, which tells the admin console); ``None`` means
    ``attempt`` finished. Reasons are logged as classified, so a classifier that
    scrubs secrets keeps them out of the log.
    """
    backoff = backoff or Backoff()
    session = Session()
    while True:
        try:
            await attempt(session)
            return None
        except asyncio.CancelledError:
            raise
        except Exception as raised:
            error = classify(raised)
        if isinstance(error, PermanentError):
            log.error("%s: %s; stopped", what, error.reason)
            if on_stop is not None:
                on_stop(error)
            return error
        session.failures += 1
        delay = backoff.after(session.failures, error)
        log.warning("%s: %s; trying again in %.1f s", what, error.reason, delay)
        await sleep(delay)
