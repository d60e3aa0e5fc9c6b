"""Platforms' receipts for sent messages (SMS status callbacks): delivered, read, failed.

A receipt is kept in the message's meta (``receipt``: state, platform id, reason,
when) and told to the agents who see the conversation as ``message.status``, the
event the outbox sends. Receipts can arrive out of order (a late ``sent`` after
``delivered``), so one never moves a message back; a failure is final and makes
the message ``failed`` with the platform's reason, as a refused send does.
"""

from __future__ import annotations

from sqlalchemy import select, update

from connectors.base import DeliveryReport, DeliveryState
from hub.conversation_access import load_access
from hub.db.database import Tx
from hub.db.schema import messages
from hub.message_status import status_payload
from hub.outbox import tell_author_of_failure

ORDER = list(DeliveryState)


def advances(current: str | None, new: DeliveryState) -> bool:
    """Whether ``new`` is news after ``current`` (the last receipt's state, if any)."""
    if current is None:
        return True
    if current == DeliveryState.FAILED:
        return False
    return ORDER.index(new) > ORDER.index(DeliveryState(current))


def record_delivery_report(channel: str, report: DeliveryReport, tx: Tx) -> bool:
    """Apply ``report`` to our message on ``channel``; ``False`` when there is none."""
    row = tx.conn.execute(
        select(messages.c.meta, messages.c.conversation_id, messages.c.state)
        .where(
            messages.c.id == report.message_id,
            messages.c.channel == channel,
            messages.c.direction == "out",
        )
        .with_for_update()
    ).first()
    if row is None:
        return False
    meta = dict(row.meta or {})
    if not advances((meta.get("receipt") or {}).get("state"), report.state):
        return True
    meta["receipt"] = {
        "state": report.state.value,
        "id": report.external_id,
        "reason": report.reason,
        "at": tx.now.isoformat(),
    }
    values: dict[str, object] = {"meta": meta}
    failed = report.state == DeliveryState.FAILED
    if failed:
        values.update(state="failed", error=report.reason)
    tx.conn.execute(update(messages).where(messages.c.id == report.message_id).values(values))
    tell_agents(tx, report, row.conversation_id, "failed" if failed else row.state, meta)
    return True


def tell_agents(
    tx: Tx, report: DeliveryReport, conversation_id: int, state: str, meta: dict[str, object]
) -> None:
    access = load_access(tx.conn, conversation_id)
    if report.state == DeliveryState.FAILED:
        tell_author_of_failure(report.message_id, access.assignee_id, tx)
    tx.emit(
        "message.status",
        status_payload(
            report.message_id,
            state,
            report.reason if report.state == DeliveryState.FAILED else None,
            meta,
        ),
        to=access.audience,
        conversation_id=conversation_id,
    )
