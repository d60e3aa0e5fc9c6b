"""One question after a resolved conversation: asked once, in the customer's hours, answered 1-5.

The question is a message like any reply (so the outbox sends, retries and
reports it, and a scheduled reply's rules hold it until the customer's hours
open); it carries a link to a public page whose signed token is the only
capability needed to answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, true, update

from hub.auth import Principal
from hub.conversation_access import ConversationAccess, load_access
from hub.conversations import (
    check_access,
    customer_rules,
    reply_target,
    set_state,
)
from hub.db.database import Tx
from hub.db.schema import messages, satisfaction_surveys
from hub.errors import Conflict, Gone, NotFound, Unprocessable
from hub.outbox import enqueue
from hub.scheduled import hold_back_scheduled
from hub.serialize import iso, message_json
from hub.signed import sign, unsign
from routing.contact import quiet_until

PURPOSE = "satisfaction"
LIFETIME = timedelta(days=14)
"""How long after the question leaves its link still takes an answer (or a changed one)."""
SCORES = range(1, 6)
_LONG_AGO = datetime(1970, 1, 2, tzinfo=UTC)
"""A moment before any token's expiry: checks a signature alone, to tell expired from forged."""


@dataclass(frozen=True)
class Asking:
    """What queuing the question needs from the running hub."""

    questions: Mapping[str, str]
    """The question per channel, for the channels that ask."""
    channels_by_kind: dict[str, str]
    secret_key: bytes
    base_url: str


def resolve_and_ask(
    principal: Principal, conversation_id: int, asking: Asking, tx: Tx
) -> dict[str, Any]:
    """Resolve the conversation and, in the same transaction, queue its one question."""
    before = check_access(tx.conn, principal, conversation_id)
    summary = set_state(principal, conversation_id, "resolved", tx)
    if before.state != "resolved":
        queue_question(tx, before, asking)
    return summary


def reopen_and_withdraw(principal: Principal, conversation_id: int, tx: Tx) -> dict[str, Any]:
    """Reopen the conversation; a question still waiting for the customer's hours is
    withdrawn (it would ask about a conversation still going on) and forgotten, so the
    next resolve asks: the customer is still asked at most once."""
    summary = set_state(principal, conversation_id, "open", tx)
    waiting = tx.conn.execute(
        select(satisfaction_surveys.c.id, satisfaction_surveys.c.message_id)
        .join(messages, messages.c.id == satisfaction_surveys.c.message_id)
        .where(
            satisfaction_surveys.c.conversation_id == conversation_id,
            messages.c.state == "scheduled",
        )
    ).first()
    if waiting is None:
        return summary
    try:
        hold_back_scheduled(tx, waiting.message_id, state="cancelled")
    except Conflict:
        return summary  # the outbox is sending it: too late to withdraw
    tx.conn.execute(
        update(messages)
        .where(messages.c.id == waiting.message_id)
        .values(state="cancelled", release_at=None)
    )
    tx.conn.execute(delete(satisfaction_surveys).where(satisfaction_surveys.c.id == waiting.id))
    row = tx.conn.execute(select(messages).where(messages.c.id == waiting.message_id)).mappings()
    access = load_access(tx.conn, conversation_id)
    tx.emit(
        "message.updated",
        {"message": message_json(row.one())},
        to=access.audience,
        conversation_id=conversation_id,
    )
    return summary


def queue_question(tx: Tx, access: ConversationAccess, asking: Asking) -> int | None:
    """Queue the question where a reply would go by default; the survey's id, or ``None``.

    Not when one was already asked (a reopened conversation resolved again), when
    the customer cannot be reached, or when that channel does not ask.
    """
    asked = tx.conn.execute(
        select(satisfaction_surveys.c.id).where(
            satisfaction_surveys.c.conversation_id == access.conversation_id
        )
    ).first()
    if asked is not None:
        return None
    try:
        target = reply_target(tx.conn, access, None, asking.channels_by_kind)
    except Unprocessable:
        return None
    question = asking.questions.get(target.channel)
    if question is None:
        return None
    rules = customer_rules(tx.conn, access.customer_id, target.channel)
    send_at = quiet_until(rules, tx.now)
    leaves = send_at or tx.now
    survey_id = tx.conn.execute(
        insert(satisfaction_surveys).values(
            conversation_id=access.conversation_id,
            customer_id=access.customer_id,
            owner_id=access.owner_id,
            channel=target.channel,
            created_at=tx.now,
            expires_at=leaves + LIFETIME,
        )
    ).inserted_primary_key[0]
    token = sign(asking.secret_key, PURPOSE, {"survey": survey_id}, leaves + LIFETIME)
    url = page_url(asking.base_url, token)
    row: dict[str, Any] = {
        "conversation_id": access.conversation_id,
        "direction": "out",
        "channel": target.channel,
        "identity_id": target.identity_id,
        "external_id": None,
        "author_id": None,
        "text": f"{question}\n{url}",
        "html": None,
        "state": "scheduled" if send_at else "queued",
        "error": None,
        "created_at": tx.now,
        "sent_at": None,
        "release_at": send_at,
        "meta": {"satisfaction": True, "answer_url": url},
    }
    row["id"] = tx.conn.execute(insert(messages).values(row)).inserted_primary_key[0]
    tx.conn.execute(
        update(satisfaction_surveys)
        .where(satisfaction_surveys.c.id == survey_id)
        .values(message_id=row["id"])
    )
    enqueue(tx, row["id"], access.conversation_id, target.channel, leaves)
    tx.emit(
        "message.created",
        {"message": message_json(row), "assignee_id": access.assignee_id},
        to=access.audience,
        conversation_id=access.conversation_id,
    )
    return survey_id


def page_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/satisfaction/{token}"


def survey_of_token(key: bytes, token: str, now: datetime) -> int:
    """The survey a link names; 404 for a link the hub never made, 410 for an expired one."""
    claims = unsign(key, PURPOSE, token, now)
    if claims is None:
        if unsign(key, PURPOSE, token, _LONG_AGO) is not None:
            raise Gone("this link has expired: thank you all the same")
        raise NotFound("this link is not one we sent: check it was copied whole")
    survey = claims.get("survey")
    if not isinstance(survey, int):
        raise NotFound("this link is not one we sent: check it was copied whole")
    return survey


def public_survey(key: bytes, token: str, now: datetime, conn: Connection) -> dict[str, Any]:
    """What the answer page shows: the question (the message without its link line) and any
    answer given so far."""
    survey_id = survey_of_token(key, token, now)
    row = conn.execute(
        select(satisfaction_surveys, messages.c.text)
        .outerjoin(messages, messages.c.id == satisfaction_surveys.c.message_id)
        .where(satisfaction_surveys.c.id == survey_id)
    ).first()
    if row is None:
        raise NotFound("this question no longer exists")
    return {
        "question": (row.text or "").rsplit("\n", 1)[0],
        "score": row.score,
        "comment": row.comment,
        "answered_at": iso(row.answered_at),
        "expires_at": iso(row.expires_at),
    }


def answer_survey(
    key: bytes, token: str, score: int, comment: str | None, tx: Tx
) -> dict[str, Any]:
    """Store (or, before the link expires, change) the customer's answer; tell the owner."""
    survey_id = survey_of_token(key, token, tx.now)
    row = tx.conn.execute(
        select(satisfaction_surveys.c.conversation_id).where(satisfaction_surveys.c.id == survey_id)
    ).first()
    if row is None:
        raise NotFound("this question no longer exists")
    tx.conn.execute(
        update(satisfaction_surveys)
        .where(satisfaction_surveys.c.id == survey_id)
        .values(score=score, comment=comment or None, answered_at=tx.now)
    )
    answer = satisfaction_of(tx.conn, row.conversation_id)
    tx.emit(
        "conversation.satisfaction",
        {"conversation_id": row.conversation_id, "satisfaction": answer},
        to=load_access(tx.conn, row.conversation_id).audience,
        conversation_id=row.conversation_id,
    )
    return public_survey(key, token, tx.now, tx.conn)


def satisfaction_of(conn: Connection, conversation_id: int) -> dict[str, Any] | None:
    """The question asked in a conversation and its answer, as its owner sees them."""
    row = conn.execute(
        select(satisfaction_surveys, messages.c.sent_at, messages.c.state.label("sending"))
        .outerjoin(messages, messages.c.id == satisfaction_surveys.c.message_id)
        .where(satisfaction_surveys.c.conversation_id == conversation_id)
    ).first()
    if row is None:
        return None
    return {
        "channel": row.channel,
        "state": row.sending,
        "sent_at": iso(row.sent_at),
        "expires_at": iso(row.expires_at),
        "answered_at": iso(row.answered_at),
        "score": row.score,
        "comment": row.comment,
    }


def satisfaction_scores(
    conn: Connection, since: datetime, until: datetime, owner_id: int | None = None
) -> list[dict[str, Any]]:
    """Per owner (at resolve time) and channel, of conversations resolved in [since, until):
    questions asked, answered, the mean score and how many gave each score.

    For the reports: one grouped query, no rows per conversation.
    """
    s = satisfaction_surveys.c
    per_score = [func.sum(case((s.score == n, 1), else_=0)).label(f"score_{n}") for n in SCORES]
    rows = conn.execute(
        select(
            s.owner_id,
            s.channel,
            func.count().label("asked"),
            func.count(s.answered_at).label("answered"),
            func.avg(s.score).label("mean"),
            *per_score,
        )
        .where(s.created_at >= since, s.created_at < until)
        .where(s.owner_id == owner_id if owner_id is not None else true())
        .group_by(s.owner_id, s.channel)
        .order_by(s.owner_id, s.channel)
    ).all()
    return [
        {
            "owner_id": row.owner_id,
            "channel": row.channel,
            "asked": row.asked,
            "answered": row.answered,
            "mean": None if row.mean is None else round(float(row.mean), 2),
            "scores": {n: int(getattr(row, f"score_{n}") or 0) for n in SCORES},
        }
        for row in rows
    ]


def fold_survey(tx: Tx, source_id: int, target_id: int) -> None:
    """A conversation folded into another (customers merged): its question and answer go
    with it; when both were asked, the one answered last stays (an answer beats none)."""
    s = satisfaction_surveys.c
    asked = tx.conn.execute(
        select(s.id, s.conversation_id, s.answered_at).where(
            s.conversation_id.in_((source_id, target_id))
        )
    ).all()
    if len(asked) == 2:
        never = datetime.min.replace(tzinfo=UTC)
        dropped = min(asked, key=lambda row: row.answered_at or never)
        tx.conn.execute(delete(satisfaction_surveys).where(s.id == dropped.id))
    tx.conn.execute(
        update(satisfaction_surveys)
        .where(s.conversation_id == source_id)
        .values(conversation_id=target_id)
    )
