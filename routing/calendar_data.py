"""A calendar's plain-data form: read from admin JSON or YAML config, and written back.

``build_calendar`` reports every problem at once, each at its field path, so
an admin sees all of them in one go.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from routing.calendar import (
    WEEKDAYS,
    Calendar,
    CalendarError,
    FrozenMapping,
    Holidays,
    Problem,
    Span,
    calendar_problems,
)

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SPAN_KEYS = ("span", "overnight")
_HOLIDAY_KEYS = ("country", "subdivision")
_SECTIONS = ("zone", "weekly", "exceptions", "holidays")


def build_calendar(
    zone: str,
    weekly: Mapping[str, Sequence[str | dict]],
    exceptions: Mapping[str, Sequence[str | dict]] = FrozenMapping(),
    holidays: dict | None = None,
) -> Calendar:
    """A calendar from plain data (admin JSON, YAML config); CalendarError lists every problem."""
    problems: list[Problem] = []
    days = _parse_days(weekly, "weekly", _weekday_key, problems)
    dates = _parse_days(exceptions, "exceptions", _date_key, problems)
    holiday = _parse_holidays(holidays, problems)
    problems += calendar_problems(zone, days, dates, holiday)
    if problems:
        raise CalendarError(sorted(problems, key=_section))
    return Calendar(zone, days, dates, holiday)


def calendar_json(calendar: Calendar) -> dict:
    """The plain data ``build_calendar`` takes, with every weekday listed."""
    return {
        "zone": calendar.zone,
        "weekly": {
            name: [_span_json(span) for span in calendar.weekly.get(day, ())]
            for day, name in enumerate(WEEKDAYS)
        },
        "exceptions": {
            day.isoformat(): [_span_json(span) for span in spans]
            for day, spans in calendar.exceptions.items()
        },
        "holidays": None if calendar.holidays is None else _holidays_json(calendar.holidays),
    }


def _parse_days(
    data: object, section: str, parse_key: Any, problems: list[Problem]
) -> dict[Any, tuple[Span, ...]]:
    if not isinstance(data, Mapping):
        problems.append((section, "expected an object"))
        return {}
    days = {}
    for key, entries in data.items():
        path = f"{section}.{key}"
        day, reason = parse_key(key)
        if reason:
            problems.append((path, reason))
        if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
            problems.append((path, "expected a list of spans"))
            continue
        spans = [
            _parse_span(entry, f"{path}[{index}]", problems) for index, entry in enumerate(entries)
        ]
        if day is not None and all(span is not None for span in spans):
            days[day] = tuple(spans)
    return days


def _section(problem: Problem) -> int:
    return _SECTIONS.index(re.split(r"[.\[]", problem[0], maxsplit=1)[0])


def _weekday_key(key: object) -> tuple[int | None, str | None]:
    if key in WEEKDAYS:
        return WEEKDAYS.index(key), None
    return None, "unknown weekday; use " + ", ".join(WEEKDAYS)


def _date_key(key: object) -> tuple[date | None, str | None]:
    if isinstance(key, date) and not isinstance(key, datetime):
        return key, None  # YAML reads an unquoted 2026-12-24 as a date
    if isinstance(key, str) and _ISO_DATE.fullmatch(key):
        try:
            return date.fromisoformat(key), None
        except ValueError:
            pass
    return None, "not a date; use YYYY-MM-DD"


def _parse_span(entry: object, path: str, problems: list[Problem]) -> Span | None:
    text, overnight = entry, False
    if isinstance(entry, Mapping):
        unknown = [key for key in entry if key not in _SPAN_KEYS]
        problems.extend((f"{path}.{key}", "unknown key; use span, overnight") for key in unknown)
        text, overnight = entry.get("span"), entry.get("overnight", False)
        if not isinstance(overnight, bool):
            problems.append((f"{path}.overnight", "expected true or false"))
            return None
        if unknown:
            return None
    elif not isinstance(entry, str):
        problems.append((path, 'expected "HH:MM-HH:MM" or {"span": ..., "overnight": true}'))
        return None
    try:
        return Span.parse(text, overnight)  # type: ignore[arg-type]
    except CalendarError as error:
        problems.extend((path, reason) for _, reason in error.problems)
        return None


def _parse_holidays(data: object, problems: list[Problem]) -> Holidays | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        problems.append(("holidays", 'expected {"country": ..., "subdivision": ...} or null'))
        return None
    unknown = [key for key in data if key not in _HOLIDAY_KEYS]
    problems.extend((f"holidays.{key}", "unknown key; use country, subdivision") for key in unknown)
    country, subdivision = data.get("country"), data.get("subdivision")
    if not isinstance(country, str):
        problems.append(("holidays.country", "expected an ISO country code such as DE"))
    if subdivision is not None and not isinstance(subdivision, str):
        problems.append(("holidays.subdivision", "expected a subdivision code such as BY"))
    if unknown or not isinstance(country, str) or not isinstance(subdivision, str | None):
        return None
    return Holidays(country, subdivision)


def _span_json(span: Span) -> str | dict:
    return {"span": str(span), "overnight": True} if span.overnight else str(span)


def _holidays_json(holidays: Holidays) -> dict:
    data = {"country": holidays.country}
    if holidays.subdivision is not None:
        data["subdivision"] = holidays.subdivision
    return data
