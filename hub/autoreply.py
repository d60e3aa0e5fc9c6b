"""The honest auto-reply: a held message is safe, and here is who answers it, when and how."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, update

from hub.db.database import Tx
from hub.db.schema import conversations, messages
from hub.outbox import enqueue
from hub.promises import customer_facts, promise_to
from routing.autoreply import AutoreplyFacts, autoreply_text
from routing.contact import ContactRules


def send_autoreply(
    tx: Tx,
    held: dict[str, object],
    rules: ContactRules,
    customer_id: int,
    written_kind: str,
    release_at: datetime,
) -> None:
    """Answer a held message on its own channel, once per held period of its conversation.

    ``written_kind``: the identity kind the customer wrote as (is the reply going elsewhere?).
    """
    text = held_message_reply(tx, rules, customer_id, written_kind, release_at)
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


def held_message_reply(
    tx: Tx, rules: ContactRules, customer_id: int, written_kind: str, release_at: datetime
) -> str:
    """The auto-reply's text: who answers from ``release_at`` on, when, and on which channel."""
    facts = customer_facts(tx.conn, customer_id)
    told = promise_to(tx.conn, facts, release_at, tx.now)
    promise = told.promise
    return autoreply_text(
        rules.autoreply_template,
        AutoreplyFacts(
            owner_name=told.owner_name,
            handler_name=told.handler_name,
            answer_at=promise.at or release_at,
            owner_back=promise.owner_back,
            by_owner=promise.by_owner,
            opens_at=release_at,
            zone=rules.told_zone(facts.zone),
            locale=facts.locale,
            mode=facts.agreed_channel if facts.agreed_channel != written_kind else None,
        ),
        tx.now,
    )
