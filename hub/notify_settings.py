"""Each agent's choice of how the hub reaches them while their inbox is closed (``agents.notify``).

Stored as JSON on the agent and validated by :class:`NotifySettings`; a missing
or unreadable value means no notifications. ``overdue`` follows the
``due_soon`` toggle: an agent who wants to hear that a reply is due soon also
hears when it is overdue.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import Connection, null, select, update

from hub.db.database import Tx
from hub.db.schema import agents
from hub.errors import NotFound, Unprocessable
from hub.notices import NoticeKind

NotifyChannel = Literal["email", "slack", "telegram", "none"]
TextAllowed = Literal["none", "first_line", "full"]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320, pattern=r"^\S*$")]
ChannelName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)]

ONE_MAILBOX = re.compile(r"[^@\s,;<>()\[\]\"']+@[^@\s,;<>()\[\]\"']+")
"""One plain addr-spec: a list of recipients or a display name is refused."""

KIND_OF_TOGGLE = {NoticeKind.OVERDUE: NoticeKind.DUE_SOON}
"""Notice kinds without a toggle of their own, and the toggle they follow."""


class NotifyKinds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_message: bool = Field(True, description="a customer I own wrote")
    backup_message: bool = Field(True, description="a customer wrote whom I cover as backup")
    due_soon: bool = Field(True, description="a reply is due soon (and: it is overdue)")
    delivery_failed: bool = Field(True, description="a reply could not be delivered")


class NotifySettings(BaseModel):
    """How the hub tells me of work while my inbox is not open."""

    model_config = ConfigDict(extra="forbid")

    channel: NotifyChannel = Field(
        "none", description="email, slack, telegram, or none (no notifications)"
    )
    via: ChannelName = Field(
        "", description="the hub channel (of that kind) the notifications are sent through"
    )
    address: Address = Field(
        "",
        description="email address, Slack user id (U...), or Telegram chat id (set by linking)",
    )
    kinds: NotifyKinds = Field(default_factory=NotifyKinds)
    text: TextAllowed = Field(
        "none",
        description="message text a notification may show: none, the first line "
        "(up to excerpt_chars), or the full text",
    )
    excerpt_chars: int = Field(80, ge=10, le=500)

    def wants(self, kind: NoticeKind) -> bool:
        """Whether a notice of ``kind`` is sent to this agent at all."""
        if self.channel == "none" or not self.via or not self.address:
            return False
        return bool(getattr(self.kinds, KIND_OF_TOGGLE.get(kind, kind).value))

    def shown_text(self, text: str | None) -> str | None:
        """As much of a customer's text as this agent allows a notification to carry."""
        if not text or self.text == "none":
            return None
        if self.text == "full":
            return text
        first_line = text.strip().splitlines()[0] if text.strip() else ""
        if len(first_line) > self.excerpt_chars:
            return first_line[: self.excerpt_chars - 1] + "…"
        return first_line or None


OFF = NotifySettings()


def parse_notify(stored: Any) -> NotifySettings:
    """The stored settings, or none at all when they are missing or no longer valid."""
    if not stored:
        return OFF
    try:
        return NotifySettings.model_validate(stored)
    except ValidationError:
        return OFF


def read_notify(conn: Connection, agent_id: int) -> NotifySettings:
    stored = conn.execute(select(agents.c.notify).where(agents.c.id == agent_id)).one_or_none()
    if stored is None:
        raise NotFound(f"agent {agent_id} not found")
    return parse_notify(stored[0])


def check_channel(chosen: NotifySettings, channel_kinds: dict[str, str]) -> None:
    """Refuse a ``via`` that is no configured hub channel of the chosen kind."""
    if chosen.channel == "none":
        return
    if channel_kinds.get(chosen.via) != chosen.channel:
        offered = sorted(n for n, kind in channel_kinds.items() if kind == chosen.channel)
        raise Unprocessable(
            f"via: {chosen.via!r} is no {chosen.channel} channel of this hub "
            f"(configured: {', '.join(offered) or 'none'})"
        )
    if chosen.channel == "email" and not ONE_MAILBOX.fullmatch(chosen.address):
        raise Unprocessable(
            "address: one email address (name@domain) is needed for email notifications"
        )


def choose_notify(tx: Tx, agent_id: int, chosen: NotifySettings) -> NotifySettings:
    """Store an agent's choice; a Telegram chat only ever comes from linking (:func:`link_chat`).

    Chat ids are no secret (the inbox shows customers'), so one typed in could send
    customers' names and text to a stranger's chat.
    """
    if chosen.channel == "telegram":
        stored = read_notify(tx.conn, agent_id)
        same_link = stored.channel == "telegram" and stored.via == chosen.via
        if not (same_link and stored.address):
            raise Unprocessable(
                "address: link your Telegram chat first: ask for a code and send it to the bot"
            )
        chosen = chosen.model_copy(update={"address": stored.address})
    return write_notify(tx, agent_id, chosen)


def write_notify(tx: Tx, agent_id: int, chosen: NotifySettings) -> NotifySettings:
    """Store ``chosen``; SQL NULL when nothing can be sent, so ingest queues nothing."""
    sends = chosen.channel != "none" and chosen.via and chosen.address
    stored = chosen.model_dump() if sends else null()
    tx.conn.execute(update(agents).where(agents.c.id == agent_id).values(notify=stored))
    return chosen


def link_chat(tx: Tx, agent_id: int, via: str, chat_id: str) -> None:
    """Send this agent's notifications to a Telegram chat they proved is theirs."""
    linked = read_notify(tx.conn, agent_id).model_copy(
        update={"channel": "telegram", "via": via, "address": chat_id}
    )
    write_notify(tx, agent_id, linked)
