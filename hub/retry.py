"""The one retry policy: capped exponential backoff with jitter, Retry-After honoured."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from connectors.base import ConnectorError, PermanentError, RateLimited


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 8
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Half the capped exponential delay is fixed, half is random, so peers
        recovering from an outage are not hit by every retry at once.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def next_delay(self, attempt: int, error: ConnectorError) -> float | None:
        """Seconds until the next try after ``error``, or ``None`` to give up."""
        if isinstance(error, PermanentError) or attempt >= self.max_attempts:
            return None
        if isinstance(error, RateLimited):
            return max(error.retry_after, 0.0)
        return self.backoff(attempt)
