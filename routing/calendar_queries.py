"""Queries on a calendar: when it is open, and how much open time lies between instants.

Pure: no clock, no I/O beyond the zone database. Each local day becomes UTC
intervals by walking that day's UTC offsets, so DST gaps are never reached and
repeated hours count twice. Queries read the merged intervals, cached per
calendar and local date.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from routing.calendar import MIDNIGHT, ONE_DAY, Calendar, holiday_name, zone_info

HORIZON = timedelta(days=400)
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)
_SAMPLE_SECONDS = 3 * 3600  # zones never change offset twice within three hours

Interval = tuple[datetime, datetime]


def is_open(calendar: Calendar, at: datetime) -> bool:
    at = _utc(at)
    intervals = _day_intervals(calendar, at.astimezone(zone_info(calendar.zone)).date())
    index = bisect_right(intervals, (at, _END_OF_TIME)) - 1
    return index >= 0 and at < intervals[index][1]


def next_opening(calendar: Calendar, at: datetime) -> datetime | None:
    """The earliest open instant from ``at`` on, in UTC; ``None`` if none within 400 days."""
    at = _utc(at)
    horizon = at + HORIZON
    for start, _ in _open_intervals(calendar, at, horizon):
        return max(start, at) if start < horizon else None
    return None


def next_closing(calendar: Calendar, at: datetime) -> datetime | None:
    """The earliest closed instant from ``at`` on, in UTC; ``None`` if open for 400 days."""
    at = _utc(at)
    horizon = at + HORIZON
    for start, end in _open_intervals(calendar, at, horizon):
        if start > at:
            return at
        return end if end < horizon else None
    return at


def business_time(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """The open time within [start, end)."""
    start, end = _utc(start), _utc(end)
    total = timedelta()
    if end <= start:
        return total
    for opens, closes in _open_intervals(calendar, start, end):
        if opens >= end:
            break
        total += min(closes, end) - max(opens, start)
    return total


def add_business_time(calendar: Calendar, start: datetime, amount: timedelta) -> datetime | None:
    """When ``amount`` of open time has passed since ``start`` (an SLA due time), in UTC."""
    if amount < timedelta():
        raise ValueError(f"amount must not be negative, got {amount}")
    start = _utc(start)
    horizon = start + HORIZON
    remaining = amount
    if not remaining:
        return start
    for opens, closes in _open_intervals(calendar, start, horizon):
        opens = max(opens, start)
        if opens >= horizon:
            return None
        if closes - opens >= remaining:
            due = opens + remaining
            return due if due <= horizon else None
        remaining -= closes - opens
    return None


def start_of_last(calendar: Calendar, end: datetime, amount: timedelta) -> datetime:
    """The earliest instant from which at most ``amount`` of open time is left before ``end``.

    Closed time just before that much open time belongs to it: with ``end`` at
    09:15 Monday and 15 minutes, it is 17:00 Friday (the close before the
    opening), not 09:00 Monday. With less than ``amount`` open within 400 days
    before ``end``, the start of those 400 days.
    """
    if amount < timedelta():
        raise ValueError(f"amount must not be negative, got {amount}")
    end = _utc(end)
    remaining = amount
    for opens, closes in _intervals_before(calendar, end):
        if closes - opens > remaining:
            return closes - remaining
        remaining -= closes - opens
    return end - HORIZON


@dataclass(frozen=True)
class DayHours:
    """One local day of a calendar: its open intervals in UTC, and why they are what they are."""

    day: date
    intervals: tuple[Interval, ...]
    exception: bool
    holiday: str | None


def days_ahead(calendar: Calendar, at: datetime, count: int) -> list[DayHours]:
    """``count`` local days from the one containing ``at`` (a calendar preview).

    A day's intervals include the after-midnight part of the previous day's
    overnight span, as they are the open instants whose local date is that day.
    """
    first = _utc(at).astimezone(zone_info(calendar.zone)).date()
    return [_day_hours(calendar, first + ONE_DAY * offset) for offset in range(count)]


def _day_hours(calendar: Calendar, day: date) -> DayHours:
    exception = day in calendar.exceptions
    holiday = None
    if calendar.holidays is not None and not exception:
        holiday = holiday_name(calendar.holidays, day)
    return DayHours(day, _day_intervals(calendar, day), exception, holiday)


# Intervals


def _open_intervals(calendar: Calendar, start: datetime, until: datetime) -> Iterator[Interval]:
    """Merged open intervals ending after ``start``, in order, up to about ``until``.

    The last one may be cut short a day or two past ``until``. Intervals are
    released only once no later local day can reach back before their end:
    an instant of local day D is later than D 00:00 UTC minus 24 hours.
    """
    if not any(calendar.weekly.values()) and not any(calendar.exceptions.values()):
        return
    zone = zone_info(calendar.zone)
    day = start.astimezone(zone).date() - ONE_DAY
    last = until.astimezone(zone).date() + ONE_DAY
    pending: list[Interval] = []
    current: Interval | None = None
    while day <= last or pending:
        if day <= last:
            pending.extend(_day_intervals(calendar, day))
            settled = datetime.combine(day, MIDNIGHT, UTC)
            day += ONE_DAY
        else:
            settled = _END_OF_TIME
        pending.sort()
        done = 0
        for opens, closes in pending:
            if opens >= settled:
                break
            done += 1
            if current is not None and opens <= current[1]:
                current = (current[0], max(current[1], closes))
                continue
            if current is not None and current[1] > start:
                yield current
            current = (opens, closes)
        del pending[:done]
        if current is not None and current[1] < settled:
            if current[1] > start:
                yield current
            current = None
    if current is not None and current[1] > start:
        yield current


def _intervals_before(calendar: Calendar, end: datetime) -> Iterator[Interval]:
    """Open intervals cut at ``end``, latest first, back to 400 days before it.

    Read in windows that double going back; an interval a window edge cut in
    two is joined again (merged intervals never touch otherwise).
    """
    limit = end - HORIZON
    upper, width = end, ONE_DAY
    held: Interval | None = None
    while upper > limit:
        lower = max(upper - width, limit)
        window = [
            (max(opens, lower), min(closes, upper))
            for opens, closes in _open_intervals(calendar, lower, upper)
            if opens < upper
        ]
        for piece in reversed(window):
            if held is not None and piece[1] == held[0]:
                held = (piece[0], held[1])
                continue
            if held is not None:
                yield held
            held = piece
        upper, width = lower, width * 2
    if held is not None:
        yield held


@lru_cache(maxsize=16384)
def _day_intervals(calendar: Calendar, day: date) -> tuple[Interval, ...]:
    """The open UTC intervals among the instants whose local date is ``day``, merged."""
    pieces = _wall_pieces(calendar, day)
    if not pieces:
        return ()
    found: list[Interval] = []
    for utc_start, utc_end, offset in _offset_segments(calendar.zone, day):
        local_start = utc_start.replace(tzinfo=None) + offset
        local_end = utc_end.replace(tzinfo=None) + offset
        for opens, closes in pieces:
            low, high = max(opens, local_start), min(closes, local_end)
            if low < high:
                found.append(
                    ((low - offset).replace(tzinfo=UTC), (high - offset).replace(tzinfo=UTC))
                )
    return tuple(_merged(sorted(found)))


def _wall_pieces(calendar: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The day's open wall-clock ranges: its own spans and yesterday's after-midnight parts."""
    midnight = datetime.combine(day, MIDNIGHT)
    tomorrow = midnight + ONE_DAY
    pieces = []
    for span in calendar.spans_on(day):
        to_midnight = span.overnight or span.end == MIDNIGHT
        closes = tomorrow if to_midnight else datetime.combine(day, span.end)
        pieces.append((datetime.combine(day, span.start), closes))
    for span in calendar.spans_on(day - ONE_DAY):
        if span.overnight:
            pieces.append((midnight, datetime.combine(day, span.end)))
    return pieces


@lru_cache(maxsize=8192)
def _offset_segments(zone_key: str, day: date) -> tuple[tuple[datetime, datetime, timedelta], ...]:
    """Stretches of constant UTC offset covering every instant whose local date is ``day``.

    Offsets stay within 24 hours, so those instants lie within a day either
    side of the day's midnight read as UTC. Offsets are sampled every three
    hours and each change is bisected to the second it happens.
    """
    zone = zone_info(zone_key)
    midnight = int(datetime.combine(day, MIDNIGHT, UTC).timestamp())
    first, last = midnight - 86400, midnight + 2 * 86400

    def offset(moment: int) -> timedelta:
        return datetime.fromtimestamp(moment, zone).utcoffset() or timedelta()

    segments = []
    begin, current = first, offset(first)
    probe = first  # offset(probe) == current
    while probe < last:
        step = min(probe + _SAMPLE_SECONDS, last)
        if offset(step) == current:
            probe = step
            continue
        low, high = probe, step
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if offset(middle) == current else (low, middle)
        segments.append((begin, high, current))
        begin, current, probe = high, offset(high), high
    segments.append((begin, last, current))
    return tuple(
        (datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC), off)
        for start, end, off in segments
    )


def _merged(intervals: Iterable[Interval]) -> Iterator[Interval]:
    current: Interval | None = None
    for opens, closes in intervals:
        if current is not None and opens <= current[1]:
            current = (current[0], max(current[1], closes))
            continue
        if current is not None:
            yield current
        current = (opens, closes)
    if current is not None:
        yield current


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"need an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)
