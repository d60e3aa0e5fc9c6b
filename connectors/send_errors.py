"""What a connector raises when a send or a connection fails: retry later, or give up.

Part of the contract in ``connectors.base``, which re-exports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.base import Delivery


class ConnectorError(Exception):
    """A send or connection failed; ``reason`` is shown to agents as is.

    ``partial``: what a send got through before it failed (kept for the next attempt).
    """

    partial: Delivery | None = None

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(ConnectorError):
    """Worth retrying later: network trouble, 5xx, a peer that is down."""


class RateLimited(TransientError):
    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying will not help: the recipient blocked us, the address is wrong."""


class AuthFailed(PermanentError):
    """Our credentials were refused."""
