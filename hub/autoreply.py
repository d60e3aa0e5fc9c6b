"""The honest auto-reply: a held message is safe, and here is when the owner answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update

from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import agents, conversations, messages
from hub.outbox import enqueue
from routing.contact import ContactRules, autoreply_text

AGENT_NAME = Prepared(select(agents.c.name).where(agents.c.id == bindparam("agent")))


def send_autoreply(
    tx: Tx,
    held: dict[str, object],
    rules: ContactRules,
    owner_id: int | None,
    release_at: datetime,
) -> None:
    """Answer a held message on its own channel, once per held period of its conversation."""
    owner_name = AGENT_NAME.scalar(tx.conn, agent=owner_id) if owner_id else None
    text = autoreply_text(
        rules.autoreply_template, owner_name, release_at, rules.customer_zone, tx.now
    )
    conversation_id = int(held["conversation_id"])  # type: ignore[call-overload]
    channel = str(held["channel"])
    message_id = tx.conn.execute(
        insert(messages).values(
            conversation_id=conversation_id,
            direction="out",
            channel=channel,
            identity_id=held["identity_id"],
            text=text,
            state="queued",
            meta={"autoreply": True, "answers": held["id"]},
            created_at=tx.now,
        )
    ).inserted_primary_key[0]
    enqueue(tx, message_id, conversation_id, channel, tx.now)
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(autoreplied_until=release_at)
    )
