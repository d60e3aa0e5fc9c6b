"""Who owns a customer and who handles their conversation right now.

Pure decisions: the caller loads the agents and counts, these functions only
choose. Every customer has at most one owner; the owner keeps the customer
while away, and a backup covers meanwhile without taking ownership.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from routing.calendar import Calendar
from routing.calendar_queries import is_open, next_opening

SEARCH_STEPS = 64
"""How many absences and closed periods :func:`available_from` steps over before giving up."""


@dataclass(frozen=True)
class Absence:
    """An agent away for a dated period (holiday, sick day): ``starts_at`` <= t < ``ends_at``."""

    starts_at: datetime
    ends_at: datetime
    handed_over: bool = False
    """The owner's conversations went to a backup for it (a long absence, ``hub/handover.py``):
    the backup keeps them whatever the backup's hours."""

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at


@dataclass(frozen=True)
class Agent:
    """An agent as routing sees them.

    ``hours``: their own working hours (``None``: no hours set, always working).
    ``absences``: their dated absences that have not ended yet (the hub may load
    only the one covering the moment it routes for).
    """

    id: int
    active: bool = True
    away: bool = False
    backup_id: int | None = None
    hours: Calendar | None = None
    absences: tuple[Absence, ...] = ()

    def available_at(self, moment: datetime) -> bool:
        """Active, not switched to away, not absent, and inside their own hours."""
        return self.on_duty_at(moment) and (self.hours is None or is_open(self.hours, moment))

    def absence_at(self, moment: datetime) -> Absence | None:
        return next((absence for absence in self.absences if absence.covers(moment)), None)

    def on_duty_at(self, moment: datetime) -> bool:
        """Active, not switched to away and not absent, whatever their hours."""
        return self.active and not self.away and self.absence_at(moment) is None


def available_from(agent: Agent, now: datetime) -> datetime | None:
    """The first moment from ``now`` at which ``agent`` is available.

    ``None`` when that depends on nobody's calendar (inactive, switched to away)
    or lies beyond the calendar's search horizon.
    """
    if not agent.active or agent.away:
        return None
    moment = now
    for _ in range(SEARCH_STEPS):
        absence = agent.absence_at(moment)
        if absence is not None:
            moment = absence.ends_at
            continue
        if agent.hours is None or is_open(agent.hours, moment):
            return moment
        opening = next_opening(agent.hours, moment)
        if opening is None:
            return None
        moment = opening
    return None


@dataclass(frozen=True)
class CustomerOwnership:
    owner_id: int | None
    backup_id: int | None = None


@dataclass(frozen=True)
class AgentLoad:
    agent_id: int
    open_conversations: int


class HandledBy(StrEnum):
    OWNER = "owner"
    CUSTOMER_BACKUP = "customer_backup"
    OWNER_BACKUP = "owner_backup"
    WAITING_FOR_OWNER = "waiting_for_owner"
    UNOWNED = "unowned"


@dataclass(frozen=True)
class Handling:
    agent_id: int | None
    by: HandledBy


def choose_owner(loads: Sequence[AgentLoad], last_assigned_id: int | None) -> int | None:
    """The first-contact policy: fewest open conversations, ties broken round robin.

    ``loads`` lists the agents able to take a customer now. Among those tied
    for the fewest, the next one after ``last_assigned_id`` in id order wins,
    wrapping around, so equal agents take turns.
    """
    if not loads:
        return None
    fewest = min(load.open_conversations for load in loads)
    tied = sorted(load.agent_id for load in loads if load.open_conversations == fewest)
    if last_assigned_id is None:
        return tied[0]
    return next((agent_id for agent_id in tied if agent_id > last_assigned_id), tied[0])


def who_handles(
    customer: CustomerOwnership, agents: Mapping[int, Agent], now: datetime
) -> Handling:
    """The owner if available ``now``, else the customer's backup, else the owner's own backup.

    With nobody available the conversation waits for its owner (it is never
    handed to a stranger); without an owner it waits for one to be assigned.
    """
    if customer.owner_id is None:
        return Handling(None, HandledBy.UNOWNED)
    owner = agents.get(customer.owner_id)
    if owner is not None and owner.available_at(now):
        return Handling(owner.id, HandledBy.OWNER)
    absence = owner.absence_at(now) if owner is not None else None
    if absence is not None and absence.handed_over:
        covering = who_covers(customer, agents, now)
        if covering.agent_id is not None:
            return covering
    for backup_id, by in (
        (customer.backup_id, HandledBy.CUSTOMER_BACKUP),
        (owner.backup_id if owner else None, HandledBy.OWNER_BACKUP),
    ):
        backup = agents.get(backup_id) if backup_id is not None else None
        if backup is not None and backup.available_at(now) and backup.id != customer.owner_id:
            return Handling(backup.id, by)
    return Handling(None, HandledBy.WAITING_FOR_OWNER)


def who_covers(customer: CustomerOwnership, agents: Mapping[int, Agent], now: datetime) -> Handling:
    """Who takes the owner's conversations for a long absence starting ``now``.

    The customer's backup, else the owner's backup, whichever is on duty: their
    hours do not matter, as they keep the conversations until the owner is back.
    """
    owner = agents.get(customer.owner_id) if customer.owner_id is not None else None
    for backup_id, by in (
        (customer.backup_id, HandledBy.CUSTOMER_BACKUP),
        (owner.backup_id if owner else None, HandledBy.OWNER_BACKUP),
    ):
        backup = agents.get(backup_id) if backup_id is not None else None
        if backup is not None and backup.on_duty_at(now) and backup.id != customer.owner_id:
            return Handling(backup.id, by)
    return Handling(None, HandledBy.WAITING_FOR_OWNER)
