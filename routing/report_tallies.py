"""Adding up what the hub counted: response-time histograms, SLA outcomes, who answered,
held messages and auto-replies per hour, into the reports' rows.

Pure, like ``routing/reports.py``. The hub keeps its counts per UTC week and hour
(``hub/report_counts.py``) and hands them here as :class:`Tally` records and
``(instant, count)`` pairs; a wait counted exactly (at a period's edge) is a tally of one.
A tally may be negative: a wait taken out of the week its UTC week was filed under, to be
added to the local week it belongs to.

Response times are kept rounded up to a step (:func:`rounded`): to the minute under an
hour, to five minutes under a day, to the hour under a week, to the day beyond. Medians and
90th percentiles are the nearest rank over those rounded times.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from math import ceil

from routing.calendar import zone_info
from routing.reports import week_of

MINUTE = 60
HOUR = 3600
DAY = 86400
STEPS = ((HOUR, MINUTE), (DAY, 5 * MINUTE), (7 * DAY, HOUR))
"""Up to each bound (seconds, included), response times are rounded up to its step."""

OWNER = "owner"
BACKUP = "backup"
BOTH = "both"


def rounded(seconds: float) -> int:
    """``seconds`` rounded up to its step (see :data:`STEPS`; beyond them, the day)."""
    if seconds <= 0:
        return 0
    step = next((step for bound, step in STEPS if seconds <= bound), DAY)
    return ceil(seconds / step) * step


def percentile(histogram: Mapping[int, int], share: float) -> int | None:
    """The nearest-rank percentile of a histogram (value to count): the smallest value with at
    least ``share`` of the counts at or below it."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(ceil(share * total), 1)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return None


@dataclass(frozen=True)
class Tally:
    """Waits of one week, owner, channel and kind: replied ones with their response times'
    histogram and SLA outcomes (met, missed), open ones (pending, missed)."""

    week: str
    """The week's Monday, ISO date, in the report's zone."""
    owner: str
    """The owner's id; empty: nobody's."""
    channel: str
    kind: str
    replied: int = 0
    met: int = 0
    missed: int = 0
    pending: int = 0
    histogram: Mapping[int, int] = field(default_factory=dict)

    def negated(self) -> Tally:
        return Tally(
            self.week,
            self.owner,
            self.channel,
            self.kind,
            -self.replied,
            -self.met,
            -self.missed,
            -self.pending,
            {value: -count for value, count in self.histogram.items()},
        )


GROUPS: dict[str, Callable[[Tally], str]] = {
    "all": lambda tally: "",
    "owner": lambda tally: tally.owner,
    "channel": lambda tally: tally.channel,
    "week": lambda tally: tally.week,
}


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


def response_times(tallies: Iterable[Tally]) -> list[Times]:
    """Median and p90 of the replied waits' response times, per group and kind."""
    counts: Counter[tuple[str, str, str]] = Counter()
    histograms: dict[tuple[str, str, str], Counter[int]] = defaultdict(Counter)
    for tally in tallies:
        for group, key_of in GROUPS.items():
            key = (group, key_of(tally), tally.kind)
            counts[key] += tally.replied
            histograms[key].update(tally.histogram)
    return [
        Times(
            group,
            key,
            kind,
            count,
            percentile(histograms[(group, key, kind)], 0.5),
            percentile(histograms[(group, key, kind)], 0.9),
        )
        for (group, key, kind), count in sorted(counts.items())
        if count > 0
    ]


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


def sla(tallies: Iterable[Tally]) -> list[Sla]:
    """SLA met, missed and pending per group, for waits that have a target."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for tally in tallies:
        for group, key_of in GROUPS.items():
            counts[(group, key_of(tally))].update(
                met=tally.met, missed=tally.missed, pending=tally.pending
            )
    return [
        Sla(group, key, tally["met"], tally["missed"], tally["pending"])
        for (group, key), tally in sorted(counts.items())
        if tally["met"] or tally["missed"] or tally["pending"]
    ]


@dataclass(frozen=True)
class Answered:
    """Conversations of one owner, by who answered them."""

    owner_id: int | None
    by_owner: bool
    by_others: bool
    conversations: int


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


def continuity(answered: Iterable[Answered]) -> list[Continuity]:
    """Per owner, who answered their customers' conversations (answered ones only)."""
    tally: dict[int | None, Counter[str]] = defaultdict(Counter)
    for row in answered:
        if row.by_owner or row.by_others:
            kind = BOTH if row.by_owner and row.by_others else OWNER if row.by_owner else BACKUP
            tally[row.owner_id][kind] += row.conversations
    return [
        Continuity(owner, counts[OWNER], counts[BACKUP], counts[BOTH])
        for owner, counts in sorted(tally.items(), key=lambda item: item[0] or 0)
    ]


def by_hour_of_week(counts: Iterable[tuple[datetime, int]], zone: str) -> list[list[int]]:
    """Counts by local weekday (0 Monday) and hour of their instant, in ``zone``."""
    grid = [[0] * 24 for _ in range(7)]
    tz = zone_info(zone)
    for moment, count in counts:
        local = moment.astimezone(tz)
        grid[local.weekday()][local.hour] += count
    return grid


def by_week(counts: Iterable[tuple[datetime, int]], zone: str) -> dict[str, int]:
    """Counts per week of their instant (the Monday, ISO date, in ``zone``), weeks with any."""
    weekly: Counter[str] = Counter()
    for moment, count in counts:
        weekly[week_of(moment, zone)] += count
    return {week: n for week, n in sorted(weekly.items()) if n}
