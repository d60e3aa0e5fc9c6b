"""Report arithmetic: response times in business hours, SLA, held messages, continuity, load
and delivery failures, from plain rows.

Pure: the hub loads messages and calendars (``hub/reports.py``), these functions count.
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
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from routing.calendar import ALWAYS_OPEN, zone_info
from routing.calendar_queries import business_time
from routing.contact import ContactRules
from routing.escalation import Stage, stage_shown

FIRST = "first"
NEXT = "next"
OWNER = "owner"
BACKUP = "backup"
BOTH = "both"


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
    automatic: bool = False
    held: bool = False
    """An inbound message held until the customer's hours."""
    failed_reason: str | None = None
    """Why an outbound message could not be delivered; None: it was not a failure."""


@dataclass(frozen=True)
class Wait:
    conversation_id: int
    customer_id: int
    channel: str
    kind: str
    """FIRST or NEXT."""
    start: datetime
    replied_at: datetime | None
    replied_by: int | None
    response: timedelta | None
    """Open time from start to the reply; None: not replied yet."""
    target: timedelta | None
    """The SLA for this kind of wait on this channel; None: no SLA."""
    waited: timedelta
    """Open time from start to the reply, or to now when not replied yet."""


RulesOf = Callable[[int, str], ContactRules]
"""The contact rules for a customer writing on a channel."""


def waits(
    messages: Iterable[Message],
    rules_of: RulesOf,
    now: datetime,
    answered: Collection[int] = frozenset(),
) -> list[Wait]:
    """Every wait in ``messages`` (any order), oldest first. ``answered``: conversations an
    agent had replied in before the first message given (their first wait is a next one)."""
    by_conversation: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        by_conversation[message.conversation_id].append(message)
    found: list[Wait] = []
    for rows in by_conversation.values():
        ordered = sorted(rows, key=lambda m: m.at)
        before = ordered[0].conversation_id in answered
        found.extend(_conversation_waits(ordered, before, rules_of, now))
    return sorted(found, key=lambda wait: wait.start)


def _conversation_waits(
    rows: Sequence[Message], replied_before: bool, rules_of: RulesOf, now: datetime
) -> list[Wait]:
    found: list[Wait] = []
    opened: Message | None = None
    for row in rows:
        if row.direction == "in" and opened is None:
            opened = row
        elif row.direction == "out" and row.author_id is not None:
            if opened is not None:
                found.append(_wait(opened, replied_before, row, rules_of, now))
                opened = None
            replied_before = True
    if opened is not None:
        found.append(_wait(opened, replied_before, None, rules_of, now))
    return found


def _wait(
    opened: Message, replied_before: bool, reply: Message | None, rules_of: RulesOf, now: datetime
) -> Wait:
    rules = rules_of(opened.customer_id, opened.channel)
    hours = rules.hours or ALWAYS_OPEN
    minutes = rules.next_response_minutes if replied_before else rules.first_response_minutes
    end = reply.at if reply is not None else max(now, opened.at)
    waited = business_time(hours, opened.at, end)
    return Wait(
        conversation_id=opened.conversation_id,
        customer_id=opened.customer_id,
        channel=opened.channel,
        kind=NEXT if replied_before else FIRST,
        start=opened.at,
        replied_at=reply.at if reply else None,
        replied_by=reply.author_id if reply else None,
        response=waited if reply else None,
        target=None if minutes is None else timedelta(minutes=minutes),
        waited=waited,
    )


# Response times


@dataclass(frozen=True)
class Times:
    """Response times of one group: how many, median and 90th percentile (seconds)."""

    group: str
    """"all", "owner", "channel" or "week"."""
    key: str
    """The owner's id, the channel, the week's Monday (ISO date) or "" for all."""
    kind: str
    count: int
    median_seconds: float | None
    p90_seconds: float | None


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``share`` of the values at
    or below it (no interpolation, so each figure is a real response time)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(ceil(share * len(ordered)), 1) - 1]


def week_of(moment: datetime, zone: str) -> str:
    """The Monday (ISO date) of the week ``moment`` falls in, in ``zone``."""
    day = moment.astimezone(zone_info(zone)).date()
    return (day - timedelta(days=day.weekday())).isoformat()


Keys = Callable[[Wait], str]


def group_keys(owner_of: Callable[[int], int | None], zone: str) -> dict[str, Keys]:
    """How waits are grouped: by their customer's owner, channel, week (in ``zone``)."""
    return {
        "all": lambda wait: "",
        "owner": lambda wait: str(owner_of(wait.customer_id) or ""),
        "channel": lambda wait: wait.channel,
        "week": lambda wait: week_of(wait.start, zone),
    }


def response_times(found: Iterable[Wait], keys: dict[str, Keys]) -> list[Times]:
    """Median and p90 of the replied waits' response times, per group and kind."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for wait in found:
        if wait.response is None:
            continue
        for group, key in keys.items():
            values[(group, key(wait), wait.kind)].append(wait.response.total_seconds())
    return [
        Times(group, key, kind, len(seconds), percentile(seconds, 0.5), percentile(seconds, 0.9))
        for (group, key, kind), seconds in sorted(values.items())
    ]


# SLA


@dataclass(frozen=True)
class Sla:
    group: str
    key: str
    met: int
    """Replied within the target (in business time)."""
    missed: int
    """Replied late, or not replied and the target has passed."""
    pending: int
    """Not replied yet, the target not passed: not counted in the share."""

    @property
    def met_percent(self) -> float | None:
        decided = self.met + self.missed
        return round(100 * self.met / decided, 1) if decided else None


def sla(found: Iterable[Wait], keys: dict[str, Keys]) -> list[Sla]:
    """SLA met, missed and pending per group, for waits that have a target."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for wait in found:
        if wait.target is None:
            continue
        outcome = _sla_outcome(wait, wait.target)
        for group, key in keys.items():
            counts[(group, key(wait))][outcome] += 1
    return [
        Sla(group, key, tally["met"], tally["missed"], tally["pending"])
        for (group, key), tally in sorted(counts.items())
    ]


def _sla_outcome(wait: Wait, target: timedelta) -> str:
    if wait.response is not None:
        return "met" if wait.response <= target else "missed"
    return "missed" if wait.waited > target else "pending"


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


# Held messages and auto-replies


def held_by_hour_of_week(messages: Iterable[Message], zone: str) -> list[list[int]]:
    """Held inbound messages counted by local weekday (0 Monday) and hour, in ``zone``."""
    grid = [[0] * 24 for _ in range(7)]
    tz = zone_info(zone)
    for message in messages:
        if message.direction == "in" and message.held:
            local = message.at.astimezone(tz)
            grid[local.weekday()][local.hour] += 1
    return grid


def autoreplies_by_week(messages: Iterable[Message], zone: str) -> dict[str, int]:
    """Auto-replies sent per week (Monday, ISO date, in ``zone``)."""
    return dict(
        sorted(
            Counter(
                week_of(m.at, zone) for m in messages if m.direction == "out" and m.automatic
            ).items()
        )
    )


# Continuity


@dataclass(frozen=True)
class Continuity:
    owner_id: int | None
    owner: int
    """Conversations where every agent reply came from the customer's owner."""
    backup: int
    """Conversations answered only by others (a backup, a colleague)."""
    both: int

    @property
    def owner_share(self) -> float | None:
        total = self.owner + self.backup + self.both
        return round(100 * self.owner / total, 1) if total else None


def continuity(found: Iterable[Wait], owner_of: Callable[[int], int | None]) -> list[Continuity]:
    """Per owner, who answered their customers' conversations (replied waits only)."""
    answerers: dict[int, set[bool]] = defaultdict(set)
    owners: dict[int, int | None] = {}
    for wait in found:
        if wait.replied_by is None:
            continue
        owner = owner_of(wait.customer_id)
        owners[wait.conversation_id] = owner
        answerers[wait.conversation_id].add(owner is not None and wait.replied_by == owner)
    tally: dict[int | None, Counter[str]] = defaultdict(Counter)
    for conversation_id, by_owner in answerers.items():
        kind = BOTH if len(by_owner) == 2 else OWNER if True in by_owner else BACKUP
        tally[owners[conversation_id]][kind] += 1
    return [
        Continuity(owner, counts[OWNER], counts[BACKUP], counts[BOTH])
        for owner, counts in sorted(tally.items(), key=lambda item: item[0] or 0)
    ]


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
