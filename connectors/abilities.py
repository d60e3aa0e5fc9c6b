"""What some connectors can do besides receiving and sending customers' messages."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from connectors.base import Attachment
from connectors.media import FileRefusal


@runtime_checkable
class Notifier(Protocol):
    """A connector that can also send a message belonging to no conversation (a code)."""

    async def send_notice(self, to: str, subject: str, text: str) -> None: ...


@runtime_checkable
class StartLinks(Protocol):
    """A channel whose users can open a chat with the bot carrying a start code (Telegram)."""

    async def start_link(self, code: str) -> str | None:
        """The link that opens the chat and sends ``code``; ``None`` if it cannot be built."""
        ...


@runtime_checkable
class SendsFiles(Protocol):
    """A channel whose ``send`` delivers :attr:`OutboundMessage.attachments`; a reply with
    files to any other channel is refused before it is stored."""

    def file_refusal(self, attachment: Attachment) -> FileRefusal | None:
        """Why this channel cannot send ``attachment`` (its type, or too large for its kind),
        else None."""
        ...
