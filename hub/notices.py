"""What agents should hear of, queued in the transaction that makes it true.

Each notice is one row of ``agent_notices``; the notifier (see
``docs/architecture.md``) batches an agent's notices into one message on their
chosen channel, at their next working moment.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import bindparam, insert

from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import agent_notices


class NoticeKind(StrEnum):
    NEW_MESSAGE = "new_message"
    """A customer the agent owns wrote."""
    BACKUP_MESSAGE = "backup_message"
    """A customer wrote whom the agent handles as a backup."""
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    DELIVERY_FAILED = "delivery_failed"


QUEUE = Prepared(
    insert(agent_notices).values(
        {
            name: bindparam(name)
            for name in ("agent_id", "kind", "conversation_id", "customer_id", "excerpt")
        }
        | {"created_at": bindparam("at"), "send_after": bindparam("at")}
    )
)
"""Prepared: every customer message queues one (``hub.delivery``)."""


def queue_notice(
    tx: Tx,
    agent_id: int,
    kind: NoticeKind,
    *,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    excerpt: str | None = None,
) -> None:
    """Queue one notice for ``agent_id``; whether and when it is sent is the notifier's call."""
    QUEUE.run(
        tx.conn,
        agent_id=agent_id,
        kind=kind.value,
        conversation_id=conversation_id,
        customer_id=customer_id,
        excerpt=excerpt,
        at=tx.now,
    )
