"""The one retry loop every long-lived session runs in (connectors/retry.py)."""

from __future__ import annotations

import logging
import random

import pytest

from connectors.base import AuthFailed, RateLimited, TransientError
from connectors.retry import Backoff, Session, keep_trying


class Waits:
    """An injected sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def test_backoff_doubles_up_to_its_cap_with_half_of_it_random() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.delay(n) for n in range(1, 7)]
    for failures, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2 ** (failures - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[3:]}) > 1, "capped delays still vary (jitter)"


async def test_a_good_connection_resets_the_count_so_the_next_outage_starts_short() -> None:
    waits = Waits()
    outcomes = iter(["fail", "fail", "fail", "connect-then-fail", "fail", "done"])

    async def attempt(session: Session) -> None:
        outcome = next(outcomes)
        if outcome == "connect-then-fail":
            session.connected()
        if outcome != "done":
            raise OSError("connection reset")

    stopped = await keep_trying(
        "test peer",
        attempt,
        log=logging.getLogger("test"),
        backoff=Backoff(base=1.0, cap=100.0, rng=random.Random(1)),
        sleep=waits,
    )
    assert stopped is None
    ceilings = [1, 2, 4, 1, 2]
    assert len(waits.seconds) == len(ceilings)
    for wait, ceiling in zip(waits.seconds, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


async def test_a_rate_limit_waits_as_long_as_the_peer_asked() -> None:
    waits = Waits()
    errors = iter([RateLimited("slow down", 42.0)])

    async def attempt(_session: Session) -> None:
        for error in errors:
            raise error

    await keep_trying("test peer", attempt, log=logging.getLogger("test"), sleep=waits)
    assert waits.seconds == [42.0]


async def test_a_refused_credential_stops_with_one_error_naming_the_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waits = Waits()
    told: list[str] = []
    tries = 0

    async def attempt(_session: Session) -> None:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise TransientError("peer unreachable")
        raise AuthFailed("the token was refused")

    with caplog.at_level(logging.INFO):
        stopped = await keep_trying(
            "telegram support: polling",
            attempt,
            log=logging.getLogger("test"),
            sleep=waits,
            on_stop=lambda error: told.append(error.reason),
        )
    assert isinstance(stopped, AuthFailed)
    assert tries == 3
    assert len(waits.seconds) == 2
    assert told == ["the token was refused"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["telegram support: polling: the token was refused; stopped"]
