"""Rate limits for widgets, kept per client address and per visitor across all their sockets.

A limit per socket is no limit: a script opens forty sockets. Every structure
here is bounded, so a flood of addresses cannot grow the hub's memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 20_000


class Buckets:
    """A token bucket per key: bursts of ``burst``, then ``per_second``.

    At most ``max_keys`` buckets are kept; the least recently used goes first
    (a forgotten key starts again with a full bucket, which is the worst it gets).
    """

    def __init__(
        self,
        burst: float,
        per_second: float,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.per_second)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)


class SocketCounts:
    """Open sockets per client address, with a cap."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}

    def take(self, client: str) -> bool:
        count = self._open.get(client, 0)
        if count >= self.cap:
            return False
        self._open[client] = count + 1
        return True

    def give_back(self, client: str) -> None:
        count = self._open.get(client, 0) - 1
        if count > 0:
            self._open[client] = count
        else:
            self._open.pop(client, None)

    def __len__(self) -> int:
        return len(self._open)
