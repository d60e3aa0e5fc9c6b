"""How the outbox retries one message: the shared :class:`Backoff`, with an attempt limit."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.base import ConnectorError, PermanentError
from connectors.retry import Backoff


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: float = 2.0
    max_delay: float = 600.0
    max_attempts: int = 8
    backoff: Backoff = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "backoff", Backoff(self.base_delay, self.max_delay))

    def next_delay(self, attempt: int, error: ConnectorError) -> float | None:
        """Seconds until the next try after ``error``, or ``None`` to give up."""
        if isinstance(error, PermanentError) or attempt >= self.max_attempts:
            return None
        return self.backoff.after(attempt, error)
