"""Where the report counts are kept (``hub/db/schema_reports.py``): adding a batch's counts
to them, and keeping them right when conversations are merged or a customer is erased.

Instants are whole seconds since the epoch (UTC); see ``hub/report_counts.py`` for what is
counted.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, delete, insert, select, tuple_, update

from hub.db.database import Tx
from hub.db.schema import conversation_answers, message_hours, wait_weeks, waits

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WEEK = 7 * 86400
MONDAY = 4 * 86400
"""The epoch was a Thursday: UTC weeks start four days after it, modulo a week."""


def seconds(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds())


def instant(value: int) -> datetime:
    return EPOCH + timedelta(seconds=value)


def utc_week(value: int) -> int:
    """The start (epoch seconds) of the UTC week, Monday 00:00, holding ``value``."""
    return value - (value - MONDAY) % WEEK


@dataclass
class Answers:
    """One conversation's ``conversation_answers`` row, as the batch changes it."""

    start_s: int
    owner_id: int | None
    replied: bool = False
    by_owner: bool = False
    by_others: bool = False
    stored: bool = False


def write_answers(conn: Connection, answers: dict[int, Answers]) -> None:
    rows = [
        {
            "conversation_id": conversation_id,
            "start_s": a.start_s,
            "owner_id": a.owner_id,
            "replied": a.replied,
            "by_owner": a.by_owner,
            "by_others": a.by_others,
        }
        for conversation_id, a in answers.items()
    ]
    new = [row for row in rows if not answers[row["conversation_id"]].stored]
    old = [
        {**row, "id": row["conversation_id"]}
        for row in rows
        if answers[row["conversation_id"]].stored
    ]
    if new:
        conn.execute(insert(conversation_answers), new)
    if old:
        conn.execute(
            update(conversation_answers).where(
                conversation_answers.c.conversation_id == bindparam("id")
            ),
            [{k: v for k, v in row.items() if k != "conversation_id"} for row in old],
        )


def add_weeks(conn: Connection, weeks: dict[tuple[int, int, str, str], Counter[str]]) -> None:
    if not weeks:
        return
    key = tuple_(
        wait_weeks.c.week_s, wait_weeks.c.owner_id, wait_weeks.c.channel, wait_weeks.c.kind
    )
    stored = {
        (row.week_s, row.owner_id, row.channel, row.kind): row
        for row in conn.execute(select(wait_weeks).where(key.in_(list(weeks))))
    }
    new, old = [], []
    for (week_s, owner, channel, kind), tally in weeks.items():
        row = stored.get((week_s, owner, channel, kind))
        histogram = Counter({int(name[1:]): n for name, n in tally.items() if name.startswith("h")})
        values = {
            "replied": tally["replied"],
            "met": tally["met"],
            "missed": tally["missed"],
        }
        if row is not None:
            histogram.update({int(value): n for value, n in json.loads(row.histogram).items()})
            values = {name: values[name] + getattr(row, name) for name in values}
            old.append({"row_id": row.id, **values, "histogram": _histogram_text(histogram)})
        else:
            new.append(
                {
                    "week_s": week_s,
                    "owner_id": owner,
                    "channel": channel,
                    "kind": kind,
                    **values,
                    "histogram": _histogram_text(histogram),
                }
            )
    if new:
        conn.execute(insert(wait_weeks), new)
    if old:
        conn.execute(update(wait_weeks).where(wait_weeks.c.id == bindparam("row_id")), old)


def _histogram_text(histogram: Counter[int]) -> str:
    return json.dumps({str(value): n for value, n in sorted(histogram.items())})


def add_hours(conn: Connection, hours: dict[int, Counter[str]]) -> None:
    if not hours:
        return
    stored = {
        row.hour_s: row
        for row in conn.execute(select(message_hours).where(message_hours.c.hour_s.in_(hours)))
    }
    new, old = [], []
    for hour_s, tally in hours.items():
        row = stored.get(hour_s)
        if row is None:
            new.append(
                {"hour_s": hour_s, "held": tally["held"], "autoreplies": tally["autoreplies"]}
            )
        else:
            old.append(
                {
                    "hour": hour_s,
                    "held": row.held + tally["held"],
                    "autoreplies": row.autoreplies + tally["autoreplies"],
                }
            )
    if new:
        conn.execute(insert(message_hours), new)
    if old:
        conn.execute(update(message_hours).where(message_hours.c.hour_s == bindparam("hour")), old)


def fold_counts(tx: Tx, source_id: int, target_id: int) -> None:
    """Conversation ``source_id`` is merged into ``target_id``: its waits move along (one
    open wait is left, the earlier, as if the messages had always been one conversation),
    and who answered it is added to the target's."""
    conn = tx.conn
    conn.execute(
        update(waits).where(waits.c.conversation_id == source_id).values(conversation_id=target_id)
    )
    still_open = (
        conn.execute(
            select(waits.c.id)
            .where(waits.c.conversation_id == target_id, waits.c.replied_s.is_(None))
            .order_by(waits.c.start_s)
        )
        .scalars()
        .all()
    )
    if len(still_open) > 1:
        conn.execute(delete(waits).where(waits.c.id.in_(still_open[1:])))
    rows = {
        row.conversation_id: row
        for row in conn.execute(
            select(conversation_answers).where(
                conversation_answers.c.conversation_id.in_((source_id, target_id))
            )
        )
    }
    source, target = rows.get(source_id), rows.get(target_id)
    if source is None:
        return
    conn.execute(
        delete(conversation_answers).where(conversation_answers.c.conversation_id == source_id)
    )
    merged = {
        "conversation_id": target_id,
        "start_s": min(r.start_s for r in (source, target) if r is not None),
        "owner_id": (target or source).owner_id,
        **{
            flag: any(getattr(r, flag) for r in (source, target) if r is not None)
            for flag in ("replied", "by_owner", "by_others")
        },
    }
    if target is not None:
        conn.execute(
            delete(conversation_answers).where(conversation_answers.c.conversation_id == target_id)
        )
    conn.execute(insert(conversation_answers).values(merged))


def forget_counts(tx: Tx, conversation_ids: Select[tuple[int]]) -> None:
    """An erased customer's conversations: their waits and who answered them go; the weekly
    and hourly counts stay (numbers that name nobody)."""
    for table in (waits, conversation_answers):
        tx.conn.execute(delete(table).where(table.c.conversation_id.in_(conversation_ids)))
