"""Agreed contact hours applied to messages: which calendar, hold or not, what to tell.

Pure: the hub loads the calendars and rules, these functions decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.autoreply import DEFAULT_AUTOREPLY, Zone, is_offset_zone
from routing.calendar import ALWAYS_OPEN, Calendar
from routing.calendar_queries import add_business_time, is_open, next_closing, next_opening


@dataclass(frozen=True)
class ContactRules:
    """Everything that decides whether a message waits, for one customer on one channel."""

    customer_hours: Calendar | None = None
    channel_hours: Calendar | None = None
    default_hours: Calendar | None = None
    never_hold: bool = False
    always_reachable: bool = False
    autoreply_template: str = DEFAULT_AUTOREPLY
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None

    @property
    def hours(self) -> Calendar | None:
        """The customer's agreed hours, else the channel's, else the hub's default."""
        return self.customer_hours or self.channel_hours or self.default_hours

    @property
    def customer_zone(self) -> str:
        """Where the customer's clock is: their own calendar's zone, else the applicable one."""
        hours = self.hours
        return hours.zone if hours is not None else "UTC"

    def told_zone(self, reported: str | None) -> Zone:
        """The zone a customer is told times in: their agreed hours' zone, else the one their
        channel ``reported``, else the applicable calendar's (then not their own)."""
        if self.customer_hours is not None:
            return Zone(self.customer_hours.zone, own=True)
        if reported:
            return Zone(reported, own=not is_offset_zone(reported))
        return Zone(self.customer_zone, own=False)


@dataclass(frozen=True)
class ContactWindow:
    """Whether a customer can be reached at a moment, and when that changes."""

    zone: str
    source: str | None
    """Whose calendar applies: "customer", "channel", "default", or None (no hours at all)."""
    always_reachable: bool
    open: bool
    opens_at: datetime | None
    closes_at: datetime | None


def contact_window(rules: ContactRules, now: datetime) -> ContactWindow:
    """The applicable calendar at ``now``: open or closed, the next opening or closing."""
    hours = rules.hours
    source = _hours_source(rules)
    if hours is None or rules.always_reachable:
        return ContactWindow(rules.customer_zone, source, rules.always_reachable, True, None, None)
    if is_open(hours, now):
        closes_at = next_closing(hours, now)
        return ContactWindow(hours.zone, source, False, True, None, closes_at)
    return ContactWindow(hours.zone, source, False, False, next_opening(hours, now), None)


def _hours_source(rules: ContactRules) -> str | None:
    candidates = (
        ("customer", rules.customer_hours),
        ("channel", rules.channel_hours),
        ("default", rules.default_hours),
    )
    return next((source for source, hours in candidates if hours is not None), None)


def hold_until(rules: ContactRules, now: datetime) -> datetime | None:
    """When an inbound message arriving ``now`` may reach its owner; ``None``: right away.

    A calendar that never opens within its search horizon does not hold:
    better an answer out of hours than a message that never arrives.
    """
    if rules.never_hold or rules.always_reachable:
        return None
    return _closed_until(rules.hours, now)


def quiet_until(rules: ContactRules, now: datetime) -> datetime | None:
    """When an agent's reply written ``now`` may leave: only the customer's agreed hours count."""
    if rules.always_reachable:
        return None
    return _closed_until(rules.customer_hours, now)


def _closed_until(hours: Calendar | None, now: datetime) -> datetime | None:
    if hours is None or is_open(hours, now):
        return None
    return next_opening(hours, now)


def reply_due_at(rules: ContactRules, start: datetime, answered_before: bool) -> datetime | None:
    """The SLA due time of a customer message counted from ``start`` in business time."""
    minutes = rules.next_response_minutes if answered_before else rules.first_response_minutes
    if minutes is None:
        return None
    return add_business_time(rules.hours or ALWAYS_OPEN, start, timedelta(minutes=minutes))
