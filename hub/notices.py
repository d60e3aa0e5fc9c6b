"""What agents should hear of, queued in the transaction that makes it true.

Each notice is one row of ``agent_notices``; the notifier (see
``docs/architecture.md``) batches an agent's notices into one message on their
chosen channel, at their next working moment.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, bindparam, insert, or_, select

from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import UtcDateTime, agent_notices, agents


class NoticeKind(StrEnum):
    NEW_MESSAGE = "new_message"
    """A customer the agent owns wrote."""
    BACKUP_MESSAGE = "backup_message"
    """A customer wrote whom the agent handles as a backup."""
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    DELIVERY_FAILED = "delivery_failed"


COLUMNS = ("agent_id", "kind", "conversation_id", "customer_id", "excerpt")
QUEUE = Prepared(
    insert(agent_notices).from_select(
        [*COLUMNS, "created_at", "send_after"],
        select(
            *(bindparam(name, type_=agent_notices.c[name].type) for name in COLUMNS),
            bindparam("at", type_=UtcDateTime),
            bindparam("at", type_=UtcDateTime),
        ).where(
            agents.c.id == bindparam("agent_id"),
            or_(bindparam("always", type_=Boolean), agents.c.notify.is_not(None)),
        ),
    )
)
"""Prepared: every customer message runs it (``hub.delivery``), asking it to insert nothing
for an agent without notifications (``agents.notify`` NULL, see ``hub.notify_settings``),
so that common case costs a primary-key lookup, not a row and its index entries."""


def queue_notice(
    tx: Tx,
    agent_id: int,
    kind: NoticeKind,
    *,
    conversation_id: int | None = None,
    customer_id: int | None = None,
    excerpt: str | None = None,
    only_if_notified: bool = False,
) -> None:
    """Queue one notice for ``agent_id``; whether and when it is sent is the notifier's call.

    ``only_if_notified``: not at all when the agent has notifications off (the hot path's
    choice; otherwise the notifier drops such notices).
    """
    QUEUE.run(
        tx.conn,
        agent_id=agent_id,
        kind=kind.value,
        conversation_id=conversation_id,
        customer_id=customer_id,
        excerpt=excerpt,
        at=tx.now,
        always=not only_if_notified,
    )
