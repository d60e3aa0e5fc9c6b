"""Turning an agent's queued notices into one notification, when the agent may be told.

A pass of :func:`plan_batches` looks at every notice due now and, per agent:

- drops those the agent does not want (notifications off, that kind off), those
  for an agent whose inbox is open in this process, and new-message notices
  whose conversation has been read meanwhile (an inbox open in another hub
  process: reading it is what the hub can see from here);
- moves the rest to the agent's next working moment when they are outside
  their own hours or absent (``routing.owners.available_from``), or to the end
  of the batch window when the agent was notified less than a window ago;
- otherwise writes one ``notice_batches`` row (the text, the channel, the
  address) and marks the notices as batched. The notifier sends that row.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from hub.assignment import agent_columns, agent_from
from hub.db.database import Tx
from hub.db.schema import agent_notices, agents, conversations, customers, notice_batches
from hub.notices import NoticeKind
from hub.notify_settings import NotifySettings, parse_notify
from routing.owners import available_from

PLAN_LIMIT = 1000
"""Notices looked at in one pass; the rest wait for the next."""

READ_MEANS_SEEN = (NoticeKind.NEW_MESSAGE.value, NoticeKind.BACKUP_MESSAGE.value)

HEADINGS = {
    NoticeKind.NEW_MESSAGE: "New messages",
    NoticeKind.BACKUP_MESSAGE: "New messages for you as backup",
    NoticeKind.DUE_SOON: "Reply due soon",
    NoticeKind.OVERDUE: "Reply overdue",
    NoticeKind.DELIVERY_FAILED: "Reply not delivered",
}


@dataclass(frozen=True)
class Plan:
    """What one agent's due notices become in this pass."""

    drop: list[int]
    later: datetime | None
    send: list[Row[Any]]


def due_notices(tx: Tx) -> list[Row[Any]]:
    return list(
        tx.conn.execute(
            select(
                agent_notices.c.id,
                agent_notices.c.agent_id,
                agent_notices.c.kind,
                agent_notices.c.customer_id,
                agent_notices.c.excerpt,
                customers.c.name.label("customer_name"),
                conversations.c.unread_count,
            )
            .outerjoin(customers, customers.c.id == agent_notices.c.customer_id)
            .outerjoin(conversations, conversations.c.id == agent_notices.c.conversation_id)
            .where(agent_notices.c.send_after <= tx.now)
            .order_by(agent_notices.c.id)
            .limit(PLAN_LIMIT)
        )
    )


def plan_batches(live: frozenset[int], window: timedelta, inbox_url: str, tx: Tx) -> int:
    """Batch what may be sent now (see the module); how many batches were written."""
    notices = due_notices(tx)
    by_agent: dict[int, list[Row[Any]]] = defaultdict(list)
    for notice in notices:
        by_agent[notice.agent_id].append(notice)
    if not by_agent:
        return 0
    team = agents_of(tx, list(by_agent))
    last_sent = last_batches(tx, list(by_agent))
    written = 0
    for agent_id, mine in by_agent.items():
        values, settings = team[agent_id]
        plan = plan_for(
            mine, values, settings, agent_id in live, last_sent.get(agent_id), window, tx.now
        )
        if plan.drop:
            tx.conn.execute(delete(agent_notices).where(agent_notices.c.id.in_(plan.drop)))
        if plan.later is not None:
            postpone(tx, [n.id for n in plan.send], plan.later)
        elif plan.send:
            write_batch(tx, agent_id, settings, plan.send, inbox_url)
            written += 1
    return written


def plan_for(
    notices: list[Row[Any]],
    agent_values: tuple[Any, ...],
    settings: NotifySettings,
    inbox_open: bool,
    last_sent: datetime | None,
    window: timedelta,
    now: datetime,
) -> Plan:
    """Which of one agent's notices go now, wait, or are dropped (see the module)."""
    keep = [
        n
        for n in notices
        if settings.wants(NoticeKind(n.kind))
        and not inbox_open
        and not (n.kind in READ_MEANS_SEEN and n.unread_count == 0)
    ]
    drop = [n.id for n in notices if n not in keep]
    if not keep:
        return Plan(drop, None, [])
    working = available_from(replace(agent_from(agent_values, now), away=False), now)
    if working is None:
        return Plan([n.id for n in notices], None, [])
    if last_sent is not None and last_sent + window > working:
        working = last_sent + window
    return Plan(drop, working if working > now else None, keep)


def agents_of(tx: Tx, agent_ids: list[int]) -> dict[int, tuple[tuple[Any, ...], NotifySettings]]:
    rows = tx.conn.execute(
        select(*agent_columns(agents), agents.c.notify).where(agents.c.id.in_(agent_ids)),
        {"now": tx.now},
    )
    return {row[0]: (tuple(row[:-1]), parse_notify(row[-1])) for row in rows}


def last_batches(tx: Tx, agent_ids: list[int]) -> dict[int, datetime]:
    rows = tx.conn.execute(
        select(notice_batches.c.agent_id, func.max(notice_batches.c.created_at))
        .where(notice_batches.c.agent_id.in_(agent_ids))
        .group_by(notice_batches.c.agent_id)
    )
    return {agent_id: created for agent_id, created in rows}


def postpone(tx: Tx, notice_ids: list[int], until: datetime) -> None:
    tx.conn.execute(
        update(agent_notices).where(agent_notices.c.id.in_(notice_ids)).values(send_after=until)
    )


def write_batch(
    tx: Tx, agent_id: int, settings: NotifySettings, notices: list[Row[Any]], inbox_url: str
) -> None:
    """One durable notification for ``notices``, which it replaces (they are deleted)."""
    tx.conn.execute(
        insert(notice_batches).values(
            agent_id=agent_id,
            channel=settings.via,
            address=settings.address,
            text=batch_text(settings, notices, inbox_url),
            state="pending",
            attempts=0,
            next_attempt_at=tx.now,
            created_at=tx.now,
        )
    )
    tx.conn.execute(delete(agent_notices).where(agent_notices.c.id.in_([n.id for n in notices])))


def batch_text(settings: NotifySettings, notices: list[Row[Any]], inbox_url: str) -> str:
    """The notification: per kind, each customer with a count (and text the agent allows)."""
    lines = [headline(notices)]
    for kind, heading in HEADINGS.items():
        of_kind = [n for n in notices if n.kind == kind.value]
        if not of_kind:
            continue
        lines += ["", f"{heading}:"]
        counts = Counter(n.customer_id for n in of_kind)
        latest = {n.customer_id: n for n in of_kind}
        for customer_id, count in counts.items():
            notice = latest[customer_id]
            line = f"- {notice.customer_name or 'a customer'}"
            if count > 1:
                line += f" ({count})"
            shown = settings.shown_text(notice.excerpt)
            lines.append(f"{line}: {shown}" if shown else line)
    lines += ["", f"Open your inbox: {inbox_url}"]
    return "\n".join(lines)


def headline(notices: list[Row[Any]]) -> str:
    customers_named = len({n.customer_id for n in notices})
    things = "1 update" if len(notices) == 1 else f"{len(notices)} updates"
    whom = "1 customer" if customers_named == 1 else f"{customers_named} customers"
    return f"{things} from {whom} in the support inbox"


def next_plan_at(conn: Any) -> datetime | None:
    """When the next postponed notice falls due (``None``: none is waiting)."""
    return conn.execute(select(func.min(agent_notices.c.send_after))).scalar()
