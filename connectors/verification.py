"""How web chat proves a visitor's address: the part of the contract about one-time codes.

``HubPort.verifier`` is a :class:`Verifier`; the hub's is ``hub.verification``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from connectors.base import Address, Link


class VerificationRefused(Exception):
    """A step of proving a visitor was refused; ``reason`` is shown to the visitor."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Verifier(Protocol):
    """How web chat proves a visitor's address: a one-time code sent to it."""

    def can_send_codes(self, channel: str) -> bool: ...

    async def send_code(self, request: CodeRequest) -> None:
        """Send a code to ``request.address`` or raise :class:`VerificationRefused`."""
        ...

    async def check_code(
        self, channel: str, visitor: Address, name: str | None, code: str
    ) -> Address:
        """Link the visitor to the address the code was sent to; that address."""
        ...

    async def belongs_elsewhere(self, visitor: Address, links: tuple[Link, ...]) -> bool:
        """Whether ``links`` name a customer other than the visitor's established one."""
        ...


@dataclass(frozen=True)
class CodeRequest:
    """A visitor asks for a one-time code to prove ``address`` is theirs."""

    channel: str
    visitor: str
    address: str
    client: str
    """The client's network address, for rate limits."""
