"""Escalation before a reply is late: when a conversation is due soon, when overdue.

Pure: the hub passes the applicable calendar (the one its due time was counted
in), the due time, the lead and what was already told; these functions decide.
The arithmetic, with examples, is in ``docs/reachability.md`` (Escalation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from routing.calendar import ALWAYS_OPEN, Calendar
from routing.calendar_queries import start_of_last


class Stage(StrEnum):
    DUE_SOON = "due_soon"
    """At most the lead of open time is left before the reply is due: the handler is told."""
    OVERDUE = "overdue"
    """The due time has come with no reply: the backup and the admins are told."""


@dataclass(frozen=True)
class Told:
    """Which stages' notices were already queued for the current due time."""

    due_soon: bool = False
    overdue: bool = False


@dataclass(frozen=True)
class Escalation:
    stage: Stage | None
    """Where the conversation stands at the moment asked about."""
    notify: tuple[Stage, ...]
    """The stages reached and not yet told, in the order their notices go out."""
    next_check: datetime | None
    """The next moment a stage not yet told is reached; ``None``: nothing more to come."""


def due_soon_from(hours: Calendar | None, due: datetime, lead: timedelta) -> datetime | None:
    """When a reply due at ``due`` becomes due soon: the earliest instant from which at most
    ``lead`` of ``hours``' open time (no hours: every instant) is left before ``due``.

    ``None`` when ``lead`` is zero: no due-soon stage at all.
    """
    if not lead:
        return None
    return start_of_last(hours or ALWAYS_OPEN, due, lead)


def escalate(
    hours: Calendar | None, due: datetime, lead: timedelta, now: datetime, told: Told
) -> Escalation:
    """What a check at ``now`` must do for a reply due at ``due``.

    Overdue from the due instant on; a check that finds both stages reached and
    neither told (the hub was stopped) tells both, the handler first.
    """
    if told.overdue:
        return Escalation(Stage.OVERDUE, (), None)
    overdue = now >= due
    soon_at = None if told.due_soon else due_soon_from(hours, due, lead)
    soon = told.due_soon or (soon_at is not None and now >= soon_at)
    stage = Stage.OVERDUE if overdue else Stage.DUE_SOON if soon else None
    notify = tuple(
        wanted
        for wanted, reached, already in (
            (Stage.DUE_SOON, soon, told.due_soon),
            (Stage.OVERDUE, overdue, told.overdue),
        )
        if reached and not already
    )
    upcoming = [moment for moment in (soon_at, due) if moment is not None and moment > now]
    return Escalation(stage, notify, min(upcoming, default=None))


def stage_shown(due: datetime | None, due_soon_told: bool, now: datetime) -> Stage | None:
    """The marker an open conversation shows: overdue from its due instant by the hub's
    clock, due soon once the check marked it (and until it is overdue)."""
    if due is None:
        return None
    if now >= due:
        return Stage.OVERDUE
    return Stage.DUE_SOON if due_soon_told else None
