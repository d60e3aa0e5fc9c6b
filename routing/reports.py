"""Report arithmetic: waits and their response times in business hours, due and overdue
conversations, load and delivery failures, from plain rows (``routing/report_tallies.py``
adds up what was counted).

Pure: the hub loads messages and calendars (``hub/reports.py``, ``hub/report_counts.py``),
these functions count.
Definitions (what counts, which calendar) are in ``docs/reports.md`` and on the page.

A *wait* is a run of a customer's messages in one conversation, from the first of them to
the next reply an agent wrote (auto-replies are not replies). It is a *first* wait when no
agent had replied in that conversation before, else a *next* one. Its response time is the
open time of the customer's applicable calendar (their own hours, else their channel's,
else the hub's default; none: every hour counts) between the two: time outside hours, held
or not, never counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from routing.calendar import ALWAYS_OPEN, zone_info
from routing.calendar_queries import business_time
from routing.contact import ContactRules
from routing.escalation import Stage, stage_shown

FIRST = "first"
NEXT = "next"


@dataclass(frozen=True)
class Message:
    """One stored message, as much of it as the reports read."""

    conversation_id: int
    customer_id: int
    direction: str
    """"in" (the customer's) or "out"."""
    channel: str
    at: datetime
    """When the hub stored it (an inbound message's arrival, a reply's writing)."""
    author_id: int | None = None
    """The agent who wrote an outbound message; None for an auto-reply."""
    failed_reason: str | None = None
    """Why an outbound message could not be delivered; None: it was not a failure."""


@dataclass(frozen=True)
class Opened:
    """A wait still open: which conversation, whose, on which channel, since when."""

    conversation_id: int
    customer_id: int
    channel: str
    kind: str
    """FIRST or NEXT."""
    start: datetime


@dataclass(frozen=True)
class Counted:
    """A conversation's counting after one more message: its open wait, whether an agent has
    replied in it, and what the message did (began a wait, answered one, or neither)."""

    opened: Opened | None
    replied: bool
    began: Opened | None = None
    answered: Opened | None = None


def count(opened: Opened | None, replied: bool, message: Message) -> Counted:
    """Count ``message`` into its conversation, whose open wait is ``opened`` and in which an
    agent has ``replied`` before. Messages are counted in the order they were stored."""
    if message.direction == "in" and opened is None:
        began = Opened(
            message.conversation_id,
            message.customer_id,
            message.channel,
            NEXT if replied else FIRST,
            message.at,
        )
        return Counted(began, replied, began=began)
    if message.direction == "out" and message.author_id is not None:
        return Counted(None, True, answered=opened)
    return Counted(opened, replied)


RulesOf = Callable[[int, str], ContactRules]
"""The contact rules for a customer writing on a channel."""


@dataclass(frozen=True)
class Timed:
    """How long a wait took, or has taken so far, in business time, and its SLA."""

    waited: timedelta
    target: timedelta | None
    """The SLA for this kind of wait on this channel; None: no SLA."""

    def outcome(self, answered: bool) -> str | None:
        """ "met" or "missed" for an answered wait; "pending" or "missed" (once past its
        target) for an open one; None without an SLA."""
        if self.target is None:
            return None
        if self.waited > self.target:
            return "missed"
        return "met" if answered else "pending"


def timed(wait: Opened, until: datetime, rules_of: RulesOf) -> Timed:
    """The open time of the customer's applicable calendar from the wait's start ``until``
    its reply (or now), and the SLA of its kind on its channel."""
    rules = rules_of(wait.customer_id, wait.channel)
    minutes = rules.first_response_minutes if wait.kind == FIRST else rules.next_response_minutes
    return Timed(
        business_time(rules.hours or ALWAYS_OPEN, wait.start, max(until, wait.start)),
        None if minutes is None else timedelta(minutes=minutes),
    )


def week_of(moment: datetime, zone: str) -> str:
    """The Monday (ISO date) of the week ``moment`` falls in, in ``zone``."""
    day = moment.astimezone(zone_info(zone)).date()
    return (day - timedelta(days=day.weekday())).isoformat()


@dataclass(frozen=True)
class Due:
    """An open conversation owed a reply, as the escalation check sees it."""

    owner_id: int | None
    reply_due_at: datetime
    due_soon_told: bool


def escalation_counts(due: Iterable[Due], now: datetime) -> dict[str, Counter[str]]:
    """Due-soon and overdue conversations now, per owner ("" when nobody owns the customer);
    the stages are the inbox's (``routing.escalation.stage_shown``)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for item in due:
        stage = stage_shown(item.reply_due_at, item.due_soon_told, now)
        if stage is not None:
            counts[str(item.owner_id or "")][stage.value] += 1
    return {owner: Counter({s.value: c[s.value] for s in Stage}) for owner, c in counts.items()}


# Load and failures


@dataclass(frozen=True)
class Load:
    owner_id: int | None
    open_conversations: int
    customers: int


def load(
    customers: Mapping[int | None, int], conversations: Mapping[int | None, int]
) -> list[Load]:
    """Customers owned and open conversations per owner (None: nobody's), as one table."""
    return [
        Load(owner, conversations.get(owner, 0), customers.get(owner, 0))
        for owner in sorted(customers.keys() | conversations.keys(), key=lambda o: o or 0)
    ]


def failures(messages: Iterable[Message]) -> list[tuple[str, str, int]]:
    """Undeliverable outbound messages per (channel, reason), most first."""
    counts = Counter(
        (m.channel, reason_of(m.failed_reason))
        for m in messages
        if m.direction == "out" and m.failed_reason is not None
    )
    return sorted(
        ((c, r, n) for (c, r), n in counts.items()), key=lambda row: (-row[2], row[0], row[1])
    )


def reason_of(error: str) -> str:
    """A failure's reason as grouped: its first line, at most 120 characters."""
    return (error.strip().splitlines() or ["unknown"])[0][:120]
