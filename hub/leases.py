"""Rows sent by lease, and retried: the outbox's messages and the agents' notifications.

A row is ``pending`` until its ``next_attempt_at``, then leased (``sending`` until
``lease_until``) by one process; a lease that runs out (the process died) makes it
due again. Each table has ``state``, ``attempts``, ``next_attempt_at``,
``lease_until`` and ``last_error``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update

from hub.db.database import Tx


def due(table: Table, now: datetime) -> Any:
    """Rows to send at ``now``: pending and due, or leased by a process that stopped."""
    return or_(
        and_(table.c.state == "pending", table.c.next_attempt_at <= now),
        and_(table.c.state == "sending", table.c.lease_until <= now),
    )


def take_lease(tx: Tx, table: Table, ids: list[int], lease: timedelta) -> None:
    """Lease rows for one attempt (counted) until ``lease`` from now."""
    tx.conn.execute(
        update(table)
        .where(table.c.id.in_(ids))
        .values(state="sending", lease_until=tx.now + lease, attempts=table.c.attempts + 1)
    )


def renew_lease(table: Table, row_id: int, lease: timedelta, tx: Tx) -> None:
    """Keep a row being sent leased for ``lease`` from now (nothing if it is no longer sent)."""
    tx.conn.execute(
        update(table)
        .where(table.c.id == row_id, table.c.state == "sending")
        .values(lease_until=tx.now + lease)
    )


def next_attempt_at(table: Table, conn: Any) -> datetime | None:
    """When the next row falls due (a retry, or a lease running out)."""
    return conn.execute(
        select(func.min(func.coalesce(table.c.lease_until, table.c.next_attempt_at))).where(
            table.c.state.in_(("pending", "sending"))
        )
    ).scalar()


def outcome_values(reason: str | None, retry_in: float | None, now: datetime) -> dict[str, Any]:
    """The row's state after an attempt: ``reason`` None: sent; else retried or failed."""
    if reason is None:
        return {"state": "sent", "last_error": None, "lease_until": None}
    if retry_in is None:
        return {"state": "failed", "last_error": reason, "lease_until": None}
    return {
        "state": "pending",
        "last_error": reason,
        "lease_until": None,
        "next_attempt_at": now + timedelta(seconds=retry_in),
    }
