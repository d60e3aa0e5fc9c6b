"""Customers' reactions (an emoji on an earlier message of their chat), kept on that message.

A reaction is no message of its own: no wait, no unread count, no notice. It is
kept on the message of the sender's own chat on the channel with the platform id
it names (ours: ``meta.delivery_id``; the customer's: the external id) as
``meta.reaction`` ``{"emoji", "at"}``, ``at`` the platform's stamp. One taken back
keeps ``emoji: None`` with its stamp, so a late redelivery of the earlier reaction
changes nothing; a repeat changes nothing either. The agents who see the
conversation are told as for a receipt (``message.reaction``). A reaction to a
message the hub does not have is not kept here: ingest stores it as written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, or_, select, update

from connectors.base import InboundMessage, IngestResult, Reaction
from hub.conversation_access import load_access
from hub.db.database import Tx
from hub.db.schema import messages
from hub.senders import Sender

REACTION = "reaction"
"""The meta key a message's reaction is kept under."""


def keep_reaction(tx: Tx, message: InboundMessage, sender: Sender | None) -> IngestResult | None:
    """Keep ``message``'s reaction on the message it reacts to; ``None``: no such message."""
    reaction = message.reaction
    if reaction is None or sender is None or sender.identity_id is None:
        return None
    target = reacted_to(tx.conn, message.channel, sender.identity_id, reaction)
    if target is None:
        return None
    at = message.sent_at or tx.now
    kept = (target.meta or {}).get(REACTION)
    new = {"emoji": reaction.emoji, "at": at.isoformat()}
    if new != kept and not stamped_after(kept, at):
        tx.conn.execute(
            update(messages)
            .where(messages.c.id == target.id)
            .values(meta={**(target.meta or {}), REACTION: new})
        )
        tx.emit(
            "message.reaction",
            {"message_id": target.id, REACTION: new},
            to=load_access(tx.conn, target.conversation_id).audience,
            conversation_id=target.conversation_id,
        )
    return IngestResult(target.id, target.conversation_id, sender.customer_id, duplicate=True)


def reacted_to(
    conn: Connection, channel: str, identity_id: int, reaction: Reaction
) -> Row[Any] | None:
    """The message of ``identity_id``'s chat on ``channel`` that the platform knows as
    ``reaction.to``: the customer's (external id) or ours (``delivery_id``)."""
    theirs = and_(messages.c.direction == "in", messages.c.external_id == reaction.to)
    ours = and_(
        messages.c.direction == "out", messages.c.meta["delivery_id"].as_string() == reaction.to
    )
    return conn.execute(
        select(messages.c.id, messages.c.conversation_id, messages.c.meta)
        .where(
            messages.c.channel == channel,
            messages.c.identity_id == identity_id,
            or_(theirs, ours),
        )
        .order_by(messages.c.id.desc())
        .limit(1)
        .with_for_update()
    ).first()


def stamped_after(kept: Any, at: datetime) -> bool:
    """Whether the reaction kept is newer than one stamped ``at`` (a late redelivery)."""
    stamp = kept.get("at") if isinstance(kept, dict) else None
    return isinstance(stamp, str) and datetime.fromisoformat(stamp) > at
