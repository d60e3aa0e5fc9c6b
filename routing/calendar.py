"""Business-hours calendars: the model and the rules a valid one keeps.

Spans are local wall-clock times; an overnight span runs past midnight into
the next day. Constructing a Calendar checks every rule, so one that exists is
valid. Its plain-data form (``build_calendar``, ``calendar_json``) lives in
``routing.calendar_data``, the queries on it in ``routing.calendar_queries``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_data

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIDNIGHT = time(0, 0)
ONE_DAY = timedelta(days=1)
_SPAN = re.compile(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*-\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*")

Problem = tuple[str, str]
_K = TypeVar("_K")
_V = TypeVar("_V")


class CalendarError(ValueError):
    """Every problem found in a calendar definition, each as (field path, reason)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in self.problems))


class FrozenMapping(Mapping[_K, _V]):
    """A read-only, hashable mapping, so calendars can key caches."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[_K, _V] | Iterable[tuple[_K, _V]] = ()) -> None:
        self._data = dict(data)
        self._hash: int | None = None

    def __getitem__(self, key: _K) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMapping):
            return self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other.items())

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __repr__(self) -> str:
        return repr(self._data)


@dataclass(frozen=True)
class Span:
    """Local wall-clock [start, end); an end of 00:00 without overnight means 24:00."""

    start: time
    end: time
    overnight: bool = False

    def __post_init__(self) -> None:
        if reason := _span_problem(self.start, self.end, self.overnight):
            raise CalendarError([("span", reason)])
        if self.overnight and self.end == MIDNIGHT:  # runs exactly to midnight: same as 24:00
            object.__setattr__(self, "overnight", False)

    @classmethod
    def parse(cls, text: str, overnight: bool = False) -> Span:
        """Read "09:00-17:30", "09:00-24:00", or "22:00-06:00" with ``overnight=True``."""
        match = _SPAN.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise CalendarError([("span", f"expected HH:MM-HH:MM, got {text!r}")])
        h1, m1, s1, h2, m2, s2 = (int(part or 0) for part in match.groups())
        problems = [
            reason
            for reason in (_clock_problem(h1, m1, s1, False), _clock_problem(h2, m2, s2, True))
            if reason
        ]
        if problems:
            raise CalendarError([("span", "; ".join(problems))])
        return cls(time(h1, m1, s1), time(h2 % 24, m2, s2), overnight)

    def __str__(self) -> str:
        end = "24:00" if self.end == MIDNIGHT and not self.overnight else _clock(self.end)
        return f"{_clock(self.start)}-{end}"


@dataclass(frozen=True)
class Holidays:
    country: str
    subdivision: str | None = None


@dataclass(frozen=True)
class Calendar:
    """Weekly hours in a zone, with dated exceptions and public holidays closed."""

    zone: str
    weekly: Mapping[int, tuple[Span, ...]]
    exceptions: Mapping[date, tuple[Span, ...]] = field(default_factory=FrozenMapping)
    holidays: Holidays | None = None

    def __post_init__(self) -> None:
        if problems := calendar_problems(self.zone, self.weekly, self.exceptions, self.holidays):
            raise CalendarError(problems)
        weekly = {day: _sorted(spans) for day, spans in sorted(self.weekly.items()) if spans}
        exceptions = {day: _sorted(spans) for day, spans in sorted(self.exceptions.items())}
        object.__setattr__(self, "weekly", FrozenMapping(weekly))
        object.__setattr__(self, "exceptions", FrozenMapping(exceptions))

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """The day's own spans: its exception, else none on a holiday, else the weekly ones."""
        if day in self.exceptions:
            return self.exceptions[day]
        if self.holidays is not None and _is_holiday(self.holidays, day):
            return ()
        return self.weekly.get(day.weekday(), ())


# Zones and holidays


zone_info = cache(ZoneInfo)
"""The zone named ``key``, loaded once: every query on a calendar reads it."""


@lru_cache(maxsize=256)
def _holiday_names(country: str, subdivision: str | None, year: int) -> FrozenMapping[date, str]:
    return FrozenMapping(
        holiday_data.country_holidays(country, subdiv=subdivision, years=year).items()
    )


def _is_holiday(holidays: Holidays, day: date) -> bool:
    return holiday_name(holidays, day) is not None


def holiday_name(holidays: Holidays, day: date) -> str | None:
    """The public holiday on ``day`` ("Christmas Day"), or ``None``."""
    return _holiday_names(holidays.country, holidays.subdivision, day.year).get(day)


# Validation


def calendar_problems(
    zone: object,
    weekly: Mapping[Any, Sequence[Span]],
    exceptions: Mapping[Any, Sequence[Span]],
    holidays: object,
) -> list[Problem]:
    """Every rule the parts of a calendar break, each as (field path, reason)."""
    shapes: list[Problem] = []
    for key, spans in weekly.items():
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key <= 6:
            shapes.append(("weekly", f"unknown weekday {key!r}; use 0 (Monday) to 6 (Sunday)"))
        else:
            shapes += _span_type_problems(f"weekly.{WEEKDAYS[key]}", spans)
    for key, spans in exceptions.items():
        if not isinstance(key, date) or isinstance(key, datetime):
            shapes.append(("exceptions", f"not a date: {key!r}"))
        else:
            shapes += _span_type_problems(f"exceptions.{key.isoformat()}", spans)
    problems = _zone_problems(zone) + shapes
    if holidays is not None and not isinstance(holidays, Holidays):
        problems.append(("holidays", f"expected Holidays or None, got {holidays!r}"))
        holidays = None
    elif holidays is not None and (holiday_problems := _holiday_problems(*astuple(holidays))):
        problems += holiday_problems
        holidays = None  # still check the spans, as if there were no holidays
    if shapes:
        return problems
    return problems + _overlaps(weekly, exceptions, holidays)


def _span_type_problems(path: str, spans: object) -> list[Problem]:
    if isinstance(spans, str | bytes) or not isinstance(spans, Sequence):
        return [(path, "expected a sequence of Span")]
    return [
        (f"{path}[{index}]", f"expected a Span, got {span!r}")
        for index, span in enumerate(spans)
        if not isinstance(span, Span)
    ]


def _overlaps(
    weekly: Mapping[int, Sequence[Span]],
    exceptions: Mapping[date, Sequence[Span]],
    holidays: Holidays | None,
) -> list[Problem]:
    """Spans sharing time: on the same day, or with the previous day's after-midnight part.

    A conflict is reported at the later day's span, except that an exception
    running past midnight into an ordinary day is reported at the exception.
    """
    problems = []
    for day, spans in weekly.items():
        name, following = WEEKDAYS[day], WEEKDAYS[(day + 1) % 7]
        problems += _same_day_overlaps(f"weekly.{name}", spans)
        problems += [
            (f"weekly.{following}[{index}]", f"overlaps {name} {span} after midnight")
            for span, _, index, _ in _tail_conflicts(spans, weekly.get((day + 1) % 7, ()))
        ]
    for day, spans in exceptions.items():
        path = f"exceptions.{day.isoformat()}"
        before, after = day - ONE_DAY, day + ONE_DAY
        problems += _same_day_overlaps(path, spans)
        previous = _effective(before, weekly, exceptions, holidays)
        problems += [
            (f"{path}[{index}]", f"overlaps {before.isoformat()} {span} after midnight")
            for span, _, index, _ in _tail_conflicts(previous, spans)
        ]
        if after not in exceptions:
            following = _effective(after, weekly, exceptions, holidays)
            problems += [
                (f"{path}[{index}]", f"after midnight overlaps {other} of {after}")
                for _, index, _, other in _tail_conflicts(spans, following)
            ]
    return problems


def _same_day_overlaps(path: str, spans: Sequence[Span]) -> list[Problem]:
    problems = []
    for index, span in enumerate(spans):
        start, end = _today(span)
        for earlier in spans[:index]:
            earlier_start, earlier_end = _today(earlier)
            if start < earlier_end and earlier_start < end:
                problems.append((f"{path}[{index}]", f"overlaps {earlier}"))
    return problems


def _tail_conflicts(
    spans: Sequence[Span], following: Sequence[Span]
) -> Iterator[tuple[Span, int, int, Span]]:
    """(span, its index, index in ``following``, span there) for each after-midnight clash."""
    for index, span in enumerate(spans):
        if span.overnight:
            for other_index, other in enumerate(following):
                if _today(other)[0] < _seconds(span.end):
                    yield span, index, other_index, other


def _effective(
    day: date,
    weekly: Mapping[int, Sequence[Span]],
    exceptions: Mapping[date, Sequence[Span]],
    holidays: Holidays | None,
) -> Sequence[Span]:
    if day in exceptions:
        return exceptions[day]
    if holidays is not None and _is_holiday(holidays, day):
        return ()
    return weekly.get(day.weekday(), ())


def _today(span: Span) -> tuple[int, int]:
    """The span's part on its own day, in seconds since midnight."""
    to_midnight = span.overnight or span.end == MIDNIGHT
    return _seconds(span.start), 86400 if to_midnight else _seconds(span.end)


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _zone_problems(zone: object) -> list[Problem]:
    if not isinstance(zone, str):
        return [("zone", f"expected an IANA time zone name, got {zone!r}")]
    try:
        zone_info(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return [("zone", f"unknown time zone {zone!r}")]
    return []


@cache
def _holiday_problems(country: str, subdivision: str | None) -> tuple[Problem, ...]:
    try:
        holiday_data.country_holidays(country)
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        return (("holidays.country", f"unknown country {country!r}"),)
    try:
        holiday_data.country_holidays(country, subdiv=subdivision)
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        return (("holidays.subdivision", f"unknown subdivision {subdivision!r} of {country}"),)
    return ()


def _span_problem(start: object, end: object, overnight: bool) -> str | None:
    if not isinstance(start, time) or not isinstance(end, time):
        return "start and end must be times of day"
    if start.tzinfo is not None or end.tzinfo is not None:
        return "times must be wall-clock times without a zone"
    if start.microsecond or end.microsecond:
        return "times must be whole seconds"
    if overnight and start < end:
        return (
            f"marked overnight but closes {_clock(end)} after it opens {_clock(start)} "
            "the same day; drop overnight"
        )
    if not overnight and end != MIDNIGHT and end <= start:
        verb = "as soon as" if end == start else "before"
        return (
            f"closes {_clock(end)} {verb} it opens {_clock(start)}; "
            "mark it overnight if it runs past midnight"
        )
    return None


def _clock_problem(hour: int, minute: int, second: int, closing: bool) -> str | None:
    text = f"{hour:02}:{minute:02}" + (f":{second:02}" if second else "")
    if hour == 24 and not minute and not second:
        return None if closing else "only a closing time can be 24:00"
    if hour > 23 or minute > 59 or second > 59:
        return f"{text} is not a time of day"
    return None


def _clock(moment: time) -> str:
    return f"{moment:%H:%M:%S}" if moment.second else f"{moment:%H:%M}"


def _sorted(spans: Sequence[Span]) -> tuple[Span, ...]:
    return tuple(sorted(spans, key=lambda span: span.start))


ALWAYS_OPEN = Calendar("UTC", {day: (Span(MIDNIGHT, MIDNIGHT),) for day in range(7)})
