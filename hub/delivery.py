"""Customer messages become work: their conversation goes to its handler, who hears of them.

Ingest does this for a message as it arrives, the release of held messages
(``hub.holds``) for messages the contact hours kept back: the same step, here once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from hub.assignment import hand_over
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import agents
from hub.notices import NoticeKind, queue_notice
from hub.serialize import message_json
from routing.owners import Handling

ACTIVE_ADMINS = Prepared(select(agents.c.id).where(agents.c.role == "admin", agents.c.active))


def deliver(
    tx: Tx,
    stored: Sequence[Mapping[str, object]],
    *,
    customer_id: int,
    customer_name: str,
    assignee_id: int | None,
    handling: Handling,
    owner_id: int | None,
) -> None:
    """Hand one conversation's ``stored`` messages to whoever handles it now and tell them.

    ``assignee_id``: the conversation's handler until now (a change is recorded
    and announced); each message is announced to the handler and the owner.
    """
    conversation_id = int(stored[0]["conversation_id"])  # type: ignore[call-overload]
    hand_over(tx, conversation_id, assignee_id, handling, owner_id)
    for message in stored:
        announce(tx, message, customer_id, customer_name, handling.agent_id, owner_id)
        notify_handler(tx, message, customer_id, handling.agent_id, owner_id)


def notify_handler(
    tx: Tx,
    row: Mapping[str, object],
    customer_id: int,
    handler_id: int | None,
    owner_id: int | None,
) -> None:
    """Queue a notice for whoever should answer: the handler, else the owner it waits for."""
    agent_id = handler_id or owner_id
    if agent_id is None:
        return
    kind = NoticeKind.NEW_MESSAGE if agent_id == owner_id else NoticeKind.BACKUP_MESSAGE
    queue_notice(
        tx,
        agent_id,
        kind,
        conversation_id=int(row["conversation_id"]),  # type: ignore[call-overload]
        customer_id=customer_id,
        excerpt=str(row["text"]),
        only_if_notified=True,
    )


def announce(
    tx: Tx,
    row: Mapping[str, object],
    customer_id: int,
    customer_name: str,
    handler_id: int | None,
    owner_id: int | None,
) -> None:
    """Tell whoever handles the conversation (and the owner) that a customer wrote."""
    tx.emit(
        "message.created",
        {
            "message": message_json(row),
            "customer": {"id": customer_id, "name": customer_name},
            "assignee_id": handler_id,
        },
        to=[a for a in (handler_id, owner_id) if a] or admins(tx),
        conversation_id=int(row["conversation_id"]),  # type: ignore[call-overload]
    )


def admins(tx: Tx) -> list[int]:
    """Who hears of a message nobody handles or owns: the active admins."""
    return [row[0] for row in ACTIVE_ADMINS.rows(tx.conn)]
