from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays as holiday_data
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from routing.calendar import (
    ALWAYS_OPEN,
    Calendar,
    CalendarError,
    Holidays,
    Span,
)
from routing.calendar_data import build_calendar, calendar_json
from routing.calendar_queries import (
    add_business_time,
    business_time,
    is_open,
    next_closing,
    next_opening,
)

BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WORKDAYS, "sat", "sun")
NINE_TO_FIVE = {day: ["09:00-17:00"] for day in WORKDAYS}
HOURS = timedelta(hours=1)


def local(zone: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=zone, fold=fold)


def every_day(zone: str, span: str) -> Calendar:
    return build_calendar(zone, {day: [span] for day in ALL_DAYS})


def problems_of(*args, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(CalendarError) as raised:
        build_calendar(*args, **kwargs)
    return raised.value.problems


# Examples: 2026-06-12 is a Friday, 2026-06-13 a Saturday, 2026-06-15 a Monday.


def test_split_shift_closes_for_lunch():
    calendar = build_calendar("Europe/Berlin", {"mon": ["09:00-12:00", "13:00-17:00"]})
    assert is_open(calendar, local(BERLIN, 2026, 6, 15, 10))
    assert not is_open(calendar, local(BERLIN, 2026, 6, 15, 12, 30))
    assert is_open(calendar, local(BERLIN, 2026, 6, 15, 13))
    assert next_closing(calendar, local(BERLIN, 2026, 6, 15, 10)) == local(BERLIN, 2026, 6, 15, 12)
    assert next_opening(calendar, local(BERLIN, 2026, 6, 15, 12, 30)) == local(
        BERLIN, 2026, 6, 15, 13
    )
    assert business_time(
        calendar, local(BERLIN, 2026, 6, 15), local(BERLIN, 2026, 6, 16)
    ) == timedelta(hours=7)


def test_overnight_span_is_open_after_midnight_into_saturday():
    calendar = build_calendar(
        "Europe/Berlin", {"fri": [{"span": "22:00-06:00", "overnight": True}]}
    )
    assert is_open(calendar, local(BERLIN, 2026, 6, 12, 23))
    assert is_open(calendar, local(BERLIN, 2026, 6, 13, 3))
    assert not is_open(calendar, local(BERLIN, 2026, 6, 13, 6))
    assert not is_open(calendar, local(BERLIN, 2026, 6, 12, 21, 59))
    assert next_closing(calendar, local(BERLIN, 2026, 6, 12, 23)) == local(BERLIN, 2026, 6, 13, 6)


def test_adjacent_spans_across_midnight_merge_into_one_opening():
    calendar = build_calendar("Europe/Berlin", {"fri": ["22:00-24:00"], "sat": ["00:00-06:00"]})
    assert next_closing(calendar, local(BERLIN, 2026, 6, 12, 23)) == local(BERLIN, 2026, 6, 13, 6)
    assert is_open(calendar, local(BERLIN, 2026, 6, 13, 0))


def test_span_until_midnight():
    calendar = build_calendar("Europe/Berlin", {"mon": ["09:00-24:00"]})
    assert calendar.weekly[0] == (Span(time(9), time(0)),)
    assert is_open(calendar, local(BERLIN, 2026, 6, 15, 23, 59, 59))
    assert not is_open(calendar, local(BERLIN, 2026, 6, 16, 0))
    assert next_closing(calendar, local(BERLIN, 2026, 6, 15, 12)) == local(BERLIN, 2026, 6, 16)


def test_exception_closes_a_day():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE, {"2026-12-24": []})
    assert not is_open(calendar, local(BERLIN, 2026, 12, 24, 10))
    assert is_open(calendar, local(BERLIN, 2026, 12, 23, 10))


def test_exception_sets_special_hours():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE, {"2026-12-23": ["10:00-12:00"]})
    assert not is_open(calendar, local(BERLIN, 2026, 12, 23, 9, 30))
    assert is_open(calendar, local(BERLIN, 2026, 12, 23, 11))
    assert not is_open(calendar, local(BERLIN, 2026, 12, 23, 12))
    assert next_closing(calendar, local(BERLIN, 2026, 12, 23, 11)) == local(
        BERLIN, 2026, 12, 23, 12
    )


def test_public_holiday_closes_a_weekday():
    germany = build_calendar("Europe/Berlin", NINE_TO_FIVE, holidays={"country": "DE"})
    assert not is_open(germany, local(BERLIN, 2026, 12, 25, 10))  # Christmas, a Friday
    assert is_open(germany, local(BERLIN, 2026, 12, 23, 10))
    # Christmas Friday, a Saturday and Sunday: the next opening is Monday
    assert next_opening(germany, local(BERLIN, 2026, 12, 24, 18)) == local(BERLIN, 2026, 12, 28, 9)
    usa = build_calendar("America/New_York", NINE_TO_FIVE, holidays={"country": "US"})
    assert not is_open(usa, local(NEW_YORK, 2026, 11, 26, 10))  # Thanksgiving, a Thursday


def test_holiday_subdivision_counts():
    bavaria = build_calendar(
        "Europe/Berlin", NINE_TO_FIVE, holidays={"country": "DE", "subdivision": "BY"}
    )
    berlin = build_calendar("Europe/Berlin", NINE_TO_FIVE, holidays={"country": "DE"})
    epiphany = local(BERLIN, 2026, 1, 6, 10)  # a Tuesday, a holiday in Bavaria only
    assert not is_open(bavaria, epiphany)
    assert is_open(berlin, epiphany)


def test_exception_on_a_holiday_opens_it():
    calendar = build_calendar(
        "Europe/Berlin", NINE_TO_FIVE, {"2026-12-25": ["10:00-14:00"]}, {"country": "DE"}
    )
    assert is_open(calendar, local(BERLIN, 2026, 12, 25, 11))
    assert not is_open(calendar, local(BERLIN, 2026, 12, 25, 9, 30))


def test_holiday_keeps_the_previous_nights_span():
    calendar = build_calendar(
        "Europe/Berlin",
        {"thu": [{"span": "22:00-02:00", "overnight": True}]},
        holidays={"country": "DE"},
    )
    assert is_open(calendar, local(BERLIN, 2026, 12, 25, 1))  # Thursday's night runs on


def test_next_opening_from_saturday_is_monday_morning_in_utc():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    opening = next_opening(calendar, local(BERLIN, 2026, 6, 13, 10))
    assert opening == local(BERLIN, 2026, 6, 15, 9)
    assert opening.tzinfo is UTC
    assert opening.astimezone(BERLIN).hour == 9


def test_next_opening_while_open_is_now():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    now = local(BERLIN, 2026, 6, 15, 10, 30, 15, 7)
    assert next_opening(calendar, now) == now
    assert next_opening(calendar, local(BERLIN, 2026, 6, 15, 9)) == local(BERLIN, 2026, 6, 15, 9)


def test_next_closing():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    assert next_closing(calendar, local(BERLIN, 2026, 6, 15, 10)) == local(BERLIN, 2026, 6, 15, 17)
    closed = local(BERLIN, 2026, 6, 15, 18)
    assert next_closing(calendar, closed) == closed
    assert next_closing(calendar, local(BERLIN, 2026, 6, 15, 17)) == local(BERLIN, 2026, 6, 15, 17)


def test_business_time_across_a_weekend():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    friday, monday = local(BERLIN, 2026, 6, 12, 16), local(BERLIN, 2026, 6, 15, 10)
    assert business_time(calendar, friday, monday) == 2 * HOURS
    assert business_time(calendar, monday, friday) == timedelta()
    assert business_time(calendar, friday, friday) == timedelta()


def test_add_business_time_skips_nights_and_weekends():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    friday = local(BERLIN, 2026, 6, 12, 16)
    assert add_business_time(calendar, friday, 3 * HOURS) == local(BERLIN, 2026, 6, 15, 11)
    assert add_business_time(calendar, friday, HOURS) == local(BERLIN, 2026, 6, 12, 17)
    evening = local(BERLIN, 2026, 6, 15, 20)
    assert add_business_time(calendar, evening, 9 * HOURS) == local(BERLIN, 2026, 6, 17, 10)
    assert add_business_time(calendar, evening, timedelta()) == evening
    for amount in (timedelta(minutes=1), 3 * HOURS, 8 * HOURS, timedelta(days=9, seconds=7)):
        due = add_business_time(calendar, friday, amount)
        assert business_time(calendar, friday, due) == amount
    with pytest.raises(ValueError, match="negative"):
        add_business_time(calendar, friday, -HOURS)


def test_always_open():
    now = local(NEW_YORK, 2026, 3, 8, 3, 30)
    assert is_open(ALWAYS_OPEN, now)
    assert ALWAYS_OPEN.zone == "UTC"
    assert next_opening(ALWAYS_OPEN, now) == now
    assert next_closing(ALWAYS_OPEN, now) is None
    assert add_business_time(ALWAYS_OPEN, now, 3 * HOURS) == now + 3 * HOURS
    assert business_time(ALWAYS_OPEN, now, now + timedelta(days=2)) == timedelta(days=2)


def test_never_open_calendar():
    calendar = build_calendar("Europe/Berlin", {})
    now = local(BERLIN, 2026, 6, 15, 10)
    assert not is_open(calendar, now)
    assert next_opening(calendar, now) is None
    assert next_closing(calendar, now) == now
    assert add_business_time(calendar, now, HOURS) is None
    assert business_time(calendar, now, now + timedelta(days=30)) == timedelta()


def test_search_horizon_is_400_days():
    calendar = build_calendar("UTC", {}, {"2027-06-01": ["09:00-10:00"]})
    assert next_opening(calendar, local(UTC, 2026, 5, 1)) == local(UTC, 2027, 6, 1, 9)
    assert next_opening(calendar, local(UTC, 2026, 4, 1)) is None
    assert add_business_time(calendar, local(UTC, 2026, 4, 1), HOURS) is None
    almost = build_calendar("UTC", {day: ["00:00-24:00"] for day in ALL_DAYS}, {"2027-06-01": []})
    assert next_closing(almost, local(UTC, 2026, 5, 1)) == local(UTC, 2027, 6, 1)
    assert next_closing(almost, local(UTC, 2026, 4, 1)) is None


def test_naive_instants_are_refused():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    naive = datetime(2026, 6, 15, 10)
    for query in (is_open, next_opening, next_closing):
        with pytest.raises(ValueError, match="naive"):
            query(calendar, naive)
    with pytest.raises(ValueError, match="naive"):
        business_time(calendar, naive, local(BERLIN, 2026, 6, 16))
    with pytest.raises(ValueError, match="naive"):
        add_business_time(calendar, naive, HOURS)


def test_instants_in_any_zone():
    calendar = build_calendar("Europe/Berlin", NINE_TO_FIVE)
    assert is_open(calendar, local(NEW_YORK, 2026, 6, 15, 4))  # 10:00 in Berlin
    assert not is_open(calendar, local(NEW_YORK, 2026, 6, 15, 2))


def test_calendar_json_round_trips():
    data = {
        "zone": "Europe/Berlin",
        "weekly": {
            "mon": ["09:00-12:00", "13:00-17:00"],
            "tue": [],
            "wed": ["09:00-24:00"],
            "thu": [],
            "fri": ["08:00-12:00", {"span": "22:00-06:00", "overnight": True}],
            "sat": [],
            "sun": [],
        },
        "exceptions": {"2026-12-24": [], "2026-12-31": ["10:00-12:00"]},
        "holidays": {"country": "DE", "subdivision": "BY"},
    }
    calendar = build_calendar(**data)
    assert calendar_json(calendar) == data
    assert build_calendar(**calendar_json(calendar)) == calendar
    assert calendar_json(ALWAYS_OPEN)["weekly"]["mon"] == ["00:00-24:00"]
    assert calendar_json(build_calendar("UTC", {}))["holidays"] is None


def test_calendars_are_hashable_and_compare_by_content():
    first = build_calendar("Europe/Berlin", {"tue": ["13:00-17:00", "09:00-12:00"], "sat": []})
    second = Calendar(
        "Europe/Berlin",
        {1: (Span.parse("09:00-12:00"), Span.parse("13:00-17:00"))},
    )
    assert first == second
    assert hash(first) == hash(second)
    assert {first: "cached"}[second] == "cached"
    assert second.weekly[1][0] == Span(time(9), time(12))


def test_constructor_takes_plain_dicts_and_yaml_dates():
    calendar = Calendar(
        "Europe/Berlin",
        {0: [Span.parse("09:00-17:00")]},
        {date(2026, 12, 24): []},
        Holidays("DE", "BY"),
    )
    assert calendar.exceptions[date(2026, 12, 24)] == ()
    from_yaml = build_calendar("Europe/Berlin", {"mon": ["09:00-17:00"]}, {date(2026, 12, 24): []})
    assert from_yaml == Calendar(
        "Europe/Berlin", {0: [Span.parse("09:00-17:00")]}, {date(2026, 12, 24): []}
    )


def test_span_parse():
    assert Span.parse("09:00-17:30") == Span(time(9), time(17, 30))
    assert Span.parse(" 9:00 - 17:30 ") == Span(time(9), time(17, 30))
    assert Span.parse("22:00-06:00", overnight=True) == Span(time(22), time(6), True)
    assert Span.parse("09:00-24:00") == Span(time(9), time(0))
    assert Span.parse("22:00-06:00", overnight=True).overnight
    assert str(Span.parse("09:00-24:00")) == "09:00-24:00"
    assert str(Span.parse("08:00:30-09:00")) == "08:00:30-09:00"
    assert Span.parse("22:00-24:00", overnight=True) == Span.parse("22:00-24:00")  # no tail
    assert Span.parse("22:00-22:00", overnight=True).overnight  # a full 24 hours


@pytest.mark.parametrize(
    ("text", "overnight", "reason"),
    [
        ("9-5", False, "expected HH:MM-HH:MM, got '9-5'"),
        ("25:00-26:00", False, "25:00 is not a time of day; 26:00 is not a time of day"),
        ("24:00-06:00", True, "only a closing time can be 24:00"),
        ("09:60-10:00", False, "09:60 is not a time of day"),
        (
            "17:00-08:00",
            False,
            "closes 08:00 before it opens 17:00; mark it overnight if it runs past midnight",
        ),
        (
            "09:00-09:00",
            False,
            "closes 09:00 as soon as it opens 09:00; mark it overnight if it runs past midnight",
        ),
        (
            "09:00-17:00",
            True,
            "marked overnight but closes 17:00 after it opens 09:00 the same day; drop overnight",
        ),
    ],
)
def test_span_parse_refuses(text, overnight, reason):
    with pytest.raises(CalendarError) as raised:
        Span.parse(text, overnight)
    assert raised.value.problems == [("span", reason)]


# Daylight saving time


def test_london_spring_forward_day_has_23_hours():
    calendar = every_day("Europe/London", "00:00-24:00")
    day = local(LONDON, 2026, 3, 29), local(LONDON, 2026, 3, 30)
    assert business_time(calendar, *day) == 23 * HOURS
    assert business_time(calendar, local(LONDON, 2026, 3, 28), day[0]) == 24 * HOURS


def test_london_fall_back_day_has_25_hours():
    calendar = every_day("Europe/London", "00:00-24:00")
    assert business_time(calendar, local(LONDON, 2026, 10, 25), local(LONDON, 2026, 10, 26)) == (
        25 * HOURS
    )


def test_lord_howe_half_hour_shifts():
    calendar = every_day("Australia/Lord_Howe", "00:00-24:00")
    spring = local(LORD_HOWE, 2026, 10, 4), local(LORD_HOWE, 2026, 10, 5)
    autumn = local(LORD_HOWE, 2026, 4, 5), local(LORD_HOWE, 2026, 4, 6)
    assert business_time(calendar, *spring) == timedelta(hours=23, minutes=30)
    assert business_time(calendar, *autumn) == timedelta(hours=24, minutes=30)


def test_lord_howe_span_inside_the_gap_never_opens():
    # 2026-10-04: 02:00 becomes 02:30, so 02:00-02:30 does not exist that Sunday
    calendar = build_calendar("Australia/Lord_Howe", {"sun": ["02:05-02:25"]})
    saturday = local(LORD_HOWE, 2026, 10, 3, 12)
    assert next_opening(calendar, saturday) == local(LORD_HOWE, 2026, 10, 11, 2, 5)
    assert business_time(calendar, saturday, saturday + timedelta(days=2)) == timedelta()


def test_lord_howe_repeated_half_hour_counts_twice():
    # 2026-04-05: 02:00 goes back to 01:30, so 01:30-02:00 happens twice
    calendar = build_calendar("Australia/Lord_Howe", {"sun": ["01:00-03:00"]})
    first, second = local(LORD_HOWE, 2026, 4, 5, 1, 45), local(LORD_HOWE, 2026, 4, 5, 1, 45, fold=1)
    assert is_open(calendar, first)
    assert is_open(calendar, second)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(minutes=30)
    day = local(LORD_HOWE, 2026, 4, 5), local(LORD_HOWE, 2026, 4, 6)
    assert business_time(calendar, *day) == timedelta(hours=2, minutes=30)


def test_london_span_inside_the_spring_gap():
    # 2026-03-29: 01:00 GMT becomes 02:00 BST
    calendar = build_calendar("Europe/London", {"sun": ["01:30-02:30"]})
    opening = next_opening(calendar, local(LONDON, 2026, 3, 28, 12))
    assert opening == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 02:00 BST, the gap's end
    assert opening.astimezone(LONDON).time() == time(2)
    assert next_closing(calendar, opening) == local(LONDON, 2026, 3, 29, 2, 30)
    assert business_time(calendar, opening - HOURS, opening + HOURS) == timedelta(minutes=30)


def test_london_repeated_hour_is_open_both_times():
    calendar = build_calendar("Europe/London", {"sun": ["01:00-02:00"]})
    first, second = local(LONDON, 2026, 10, 25, 1, 30), local(LONDON, 2026, 10, 25, 1, 30, fold=1)
    assert is_open(calendar, first)
    assert is_open(calendar, second)
    assert next_closing(calendar, first) == datetime(2026, 10, 25, 2, tzinfo=UTC)
    assert business_time(calendar, local(LONDON, 2026, 10, 25), local(LONDON, 2026, 10, 26)) == (
        2 * HOURS
    )


def test_new_york_span_opening_in_the_gap_opens_at_three():
    # 2026-03-08: 02:00 EST becomes 03:00 EDT
    calendar = build_calendar("America/New_York", {"sun": ["02:30-05:00"]})
    opening = next_opening(calendar, local(NEW_YORK, 2026, 3, 7, 12))
    assert opening.astimezone(NEW_YORK) == local(NEW_YORK, 2026, 3, 8, 3)
    assert business_time(calendar, opening - HOURS, opening + 5 * HOURS) == 2 * HOURS


def test_new_york_fall_back():
    calendar = every_day("America/New_York", "00:00-24:00")
    day = local(NEW_YORK, 2026, 11, 1), local(NEW_YORK, 2026, 11, 2)
    assert business_time(calendar, *day) == 25 * HOURS
    night = build_calendar(
        "America/New_York", {"sat": [{"span": "22:00-06:00", "overnight": True}]}
    )
    saturday = local(NEW_YORK, 2026, 10, 31, 22)
    assert next_closing(night, saturday) == local(NEW_YORK, 2026, 11, 1, 6)
    assert business_time(night, saturday, saturday + timedelta(days=1)) == 9 * HOURS


def test_overnight_span_across_spring_forward():
    calendar = build_calendar(
        "Europe/London", {"sat": [{"span": "22:00-06:00", "overnight": True}]}
    )
    saturday = local(LONDON, 2026, 3, 28, 21)
    assert business_time(calendar, saturday, saturday + timedelta(days=1)) == 7 * HOURS
    assert add_business_time(calendar, saturday, 7 * HOURS) == local(LONDON, 2026, 3, 29, 6)


# Validation


def test_unknown_zone():
    assert problems_of("Mars/Olympus", NINE_TO_FIVE) == [
        ("zone", "unknown time zone 'Mars/Olympus'")
    ]
    assert problems_of("", NINE_TO_FIVE) == [("zone", "unknown time zone ''")]
    with pytest.raises(CalendarError, match="zone: unknown time zone"):
        Calendar("Europe/Atlantis", {})


def test_bad_span_syntax():
    assert problems_of("UTC", {"mon": ["9 to 5"]}) == [
        ("weekly.mon[0]", "expected HH:MM-HH:MM, got '9 to 5'")
    ]
    assert problems_of("UTC", {"mon": [{"span": "25:00-26:00"}]}) == [
        ("weekly.mon[0]", "25:00 is not a time of day; 26:00 is not a time of day")
    ]
    assert problems_of("UTC", {"mon": [42]}) == [
        ("weekly.mon[0]", 'expected "HH:MM-HH:MM" or {"span": ..., "overnight": true}')
    ]
    assert problems_of("UTC", {"mon": "09:00-17:00"}) == [
        ("weekly.mon", "expected a list of spans")
    ]
    assert problems_of("UTC", {"mon": [{"span": "22:00-06:00", "overnight": "yes", "x": 1}]}) == [
        ("weekly.mon[0].x", "unknown key; use span, overnight"),
        ("weekly.mon[0].overnight", "expected true or false"),
    ]
    assert problems_of("UTC", {"mon": [{"overnight": True}]}) == [
        ("weekly.mon[0]", "expected HH:MM-HH:MM, got None")
    ]


def test_unknown_weekday():
    assert problems_of("UTC", {"monday": ["09:00-17:00"]}) == [
        ("weekly.monday", "unknown weekday; use mon, tue, wed, thu, fri, sat, sun")
    ]
    with pytest.raises(CalendarError) as raised:
        Calendar("UTC", {7: ()})
    assert raised.value.problems == [("weekly", "unknown weekday 7; use 0 (Monday) to 6 (Sunday)")]


def test_bad_dates():
    assert problems_of(
        "UTC", NINE_TO_FIVE, {"2026-02-30": [], "24.12.2026": [], "2026-1-5": []}
    ) == [
        ("exceptions.2026-02-30", "not a date; use YYYY-MM-DD"),
        ("exceptions.24.12.2026", "not a date; use YYYY-MM-DD"),
        ("exceptions.2026-1-5", "not a date; use YYYY-MM-DD"),
    ]
    with pytest.raises(CalendarError) as raised:
        Calendar("UTC", {}, {datetime(2026, 12, 24): ()})
    assert raised.value.problems == [
        ("exceptions", "not a date: datetime.datetime(2026, 12, 24, 0, 0)")
    ]


def test_closing_before_opening_needs_overnight():
    assert problems_of("UTC", {"mon": ["09:00-12:00", "17:00-08:00"]}) == [
        (
            "weekly.mon[1]",
            "closes 08:00 before it opens 17:00; mark it overnight if it runs past midnight",
        )
    ]
    assert problems_of("UTC", {}, {"2026-12-24": ["10:00-10:00"]}) == [
        (
            "exceptions.2026-12-24[0]",
            "closes 10:00 as soon as it opens 10:00; mark it overnight if it runs past midnight",
        )
    ]
    assert problems_of("UTC", {"sat": [{"span": "09:00-17:00", "overnight": True}]}) == [
        (
            "weekly.sat[0]",
            "marked overnight but closes 17:00 after it opens 09:00 the same day; drop overnight",
        )
    ]


def test_overlapping_spans_on_the_same_day():
    assert problems_of("UTC", {"mon": ["09:00-12:00", "11:00-13:00", "08:00-18:00"]}) == [
        ("weekly.mon[1]", "overlaps 09:00-12:00"),
        ("weekly.mon[2]", "overlaps 09:00-12:00"),
        ("weekly.mon[2]", "overlaps 11:00-13:00"),
    ]
    assert problems_of("UTC", {}, {"2026-12-24": ["13:00-17:00", "09:00-14:00"]}) == [
        ("exceptions.2026-12-24[1]", "overlaps 13:00-17:00")
    ]


def test_touching_spans_are_fine():
    calendar = build_calendar(
        "UTC",
        {
            "mon": ["09:00-12:00", "12:00-13:00", {"span": "22:00-06:00", "overnight": True}],
            "tue": ["06:00-08:00"],
        },
    )
    assert next_closing(calendar, local(UTC, 2026, 6, 15, 9)) == local(UTC, 2026, 6, 15, 13)
    assert next_closing(calendar, local(UTC, 2026, 6, 15, 23)) == local(UTC, 2026, 6, 16, 8)


def test_overnight_span_overlapping_the_next_day():
    assert problems_of(
        "UTC",
        {
            "fri": [{"span": "22:00-06:00", "overnight": True}],
            "sat": ["05:00-09:00", "10:00-11:00"],
        },
    ) == [("weekly.sat[0]", "overlaps fri 22:00-06:00 after midnight")]
    assert problems_of(
        "UTC", {"sun": [{"span": "20:00-10:00", "overnight": True}], "mon": ["09:00-17:00"]}
    ) == [("weekly.mon[0]", "overlaps sun 20:00-10:00 after midnight")]


def test_overnight_spans_overlapping_exceptions():
    # 2026-12-24 is a Thursday, 2026-12-23 a Wednesday
    weekly = {"wed": [{"span": "22:00-06:00", "overnight": True}], "fri": ["09:00-17:00"]}
    night = {"span": "20:00-10:00", "overnight": True}
    assert problems_of("UTC", weekly, {"2026-12-24": ["05:00-12:00", night]}) == [
        ("exceptions.2026-12-24[0]", "overlaps 2026-12-23 22:00-06:00 after midnight"),
        ("exceptions.2026-12-24[1]", "after midnight overlaps 09:00-17:00 of 2026-12-25"),
    ]
    # a holiday on the next day has no spans to overlap; an exception there is checked itself
    build_calendar("UTC", weekly, {"2026-12-24": [night]}, {"country": "DE"})
    assert problems_of("UTC", weekly, {"2026-12-24": [night], "2026-12-25": ["08:00-09:00"]}) == [
        ("exceptions.2026-12-25[0]", "overlaps 2026-12-24 20:00-10:00 after midnight")
    ]


def test_unknown_holidays():
    assert problems_of("UTC", {}, holidays={"country": "XX"}) == [
        ("holidays.country", "unknown country 'XX'")
    ]
    assert problems_of("UTC", {}, holidays={"country": "DE", "subdivision": "XY"}) == [
        ("holidays.subdivision", "unknown subdivision 'XY' of DE")
    ]
    assert problems_of("UTC", {}, holidays={"subdivision": "BY", "region": "x"}) == [
        ("holidays.region", "unknown key; use country, subdivision"),
        ("holidays.country", "expected an ISO country code such as DE"),
    ]
    assert problems_of("UTC", {}, holidays="DE") == [
        ("holidays", 'expected {"country": ..., "subdivision": ...} or null')
    ]


def test_every_problem_is_reported_at_once():
    problems = problems_of(
        "Europe/Nowhere",
        {
            "mon": ["09:00-12:00", "11:00-13:00"],
            "tue": ["17:00-08:00"],
            "funday": ["09:00-10:00"],
            "sun": [{"span": "22:00-02:00", "overnight": True}],
        },
        {"2026-13-01": [], "2026-12-24": ["9am-5pm"]},
        {"country": "ZZ"},
    )
    assert problems == [
        ("zone", "unknown time zone 'Europe/Nowhere'"),
        (
            "weekly.tue[0]",
            "closes 08:00 before it opens 17:00; mark it overnight if it runs past midnight",
        ),
        ("weekly.funday", "unknown weekday; use mon, tue, wed, thu, fri, sat, sun"),
        ("weekly.mon[1]", "overlaps 09:00-12:00"),
        ("exceptions.2026-13-01", "not a date; use YYYY-MM-DD"),
        ("exceptions.2026-12-24[0]", "expected HH:MM-HH:MM, got '9am-5pm'"),
        ("holidays.country", "unknown country 'ZZ'"),
    ]
    with pytest.raises(ValueError, match=r"^zone: unknown time zone 'Europe/Nowhere'; weekly"):
        build_calendar("Europe/Nowhere", {"tue": ["17:00-08:00"]})


def test_constructor_validates_like_build_calendar():
    with pytest.raises(CalendarError) as raised:
        Calendar("UTC", {0: (Span.parse("09:00-12:00"), Span.parse("10:00-11:00"))})
    assert raised.value.problems == [("weekly.mon[1]", "overlaps 09:00-12:00")]
    with pytest.raises(CalendarError) as raised:
        Calendar("UTC", {0: ("09:00-12:00",)}, holidays=Holidays("XX"))
    assert raised.value.problems == [
        ("weekly.mon[0]", "expected a Span, got '09:00-12:00'"),
        ("holidays.country", "unknown country 'XX'"),
    ]
    with pytest.raises(CalendarError) as raised:
        Span(time(17), time(8))
    assert raised.value.problems[0][0] == "span"


# Properties: random calendars against a brute-force reading of local wall time

ZONES = {
    "Europe/London": ("GB", "ENG"),
    "America/New_York": ("US", None),
    "Australia/Lord_Howe": ("AU", "NSW"),
    "Asia/Kolkata": ("IN", None),
}
TRANSITIONS = {  # UTC instants of the 2026-2027 offset changes
    "Europe/London": [
        "2026-03-29T01:00",
        "2026-10-25T01:00",
        "2027-03-28T01:00",
        "2027-10-31T01:00",
    ],
    "America/New_York": [
        "2026-03-08T07:00",
        "2026-11-01T06:00",
        "2027-03-14T07:00",
        "2027-11-07T06:00",
    ],
    "Australia/Lord_Howe": [
        "2026-04-04T15:00",
        "2026-10-03T15:30",
        "2027-04-03T15:00",
        "2027-10-02T15:30",
    ],
    "Asia/Kolkata": ["2026-03-29T00:00"],  # no changes: just an instant near local midnight
}
FIRST_DAY, LAST_DAY = date(2025, 12, 25), date(2028, 1, 5)
DAY_MINUTES = 1440


def test_transition_table_is_right():
    for zone, instants in TRANSITIONS.items():
        for text in instants if zone != "Asia/Kolkata" else []:
            moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
            before = (moment - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).utcoffset()
            assert before != moment.astimezone(ZoneInfo(zone)).utcoffset()


@st.composite
def day_spans(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Up to three disjoint [start, end) minute ranges within one day, in order."""
    count = draw(st.integers(0, 3))
    cut = st.sampled_from([0, DAY_MINUTES]) | st.integers(0, DAY_MINUTES // 5).map(lambda n: n * 5)
    cuts = sorted(draw(st.lists(cut, min_size=2 * count, max_size=2 * count, unique=True)))
    return list(zip(cuts[::2], cuts[1::2], strict=True))


@st.composite
def calendars(draw: st.DrawFn) -> tuple[Calendar, dict]:
    """A random valid calendar and its model: day -> [(start, end, overnight)] in minutes."""
    zone = draw(st.sampled_from(sorted(ZONES)))
    weekly = {day: draw(day_spans()) for day in range(7) if draw(st.booleans())}
    near = date.fromisoformat(draw(st.sampled_from(TRANSITIONS[zone]))[:10])
    dates = draw(
        st.lists(st.dates(FIRST_DAY, LAST_DAY), max_size=4, unique=True)
        | st.lists(st.dates(near - timedelta(days=3), near + timedelta(days=3)), max_size=3)
    )
    model_weekly = {
        day: _maybe_overnight(draw, spans, weekly.get((day + 1) % 7, []))
        for day, spans in weekly.items()
    }
    model_exceptions = {day: _maybe_overnight(draw, draw(day_spans()), None) for day in dates}
    holidays = ZONES[zone] if draw(st.booleans()) else None
    data = {
        "zone": zone,
        "weekly": {ALL_DAYS[day]: _texts(spans) for day, spans in model_weekly.items()},
        "exceptions": {day.isoformat(): _texts(spans) for day, spans in model_exceptions.items()},
        "holidays": holidays and {"country": holidays[0], "subdivision": holidays[1]},
    }
    try:
        calendar = build_calendar(**data)
    except CalendarError:
        assume(False)  # an exception's overnight span ran into a neighbouring day's spans
    model = {"weekly": model_weekly, "exceptions": model_exceptions, "holidays": holidays}
    return calendar, {"zone": ZoneInfo(zone), **model}


def _maybe_overnight(draw: st.DrawFn, spans: list, following: list | None) -> list:
    """Perhaps run the last span past midnight, clear of the next day's spans when known."""
    spans = [(start, end, False) for start, end in spans]
    if not spans or not draw(st.booleans()):
        return spans
    start = spans[-1][0]
    room = min([start, *(begin for begin, _ in following or [])])
    if room < 5:
        return spans
    end = draw(st.integers(1, room // 5)) * 5  # end <= start: a tail after midnight
    return [*spans[:-1], (start, end, True)]


def _texts(spans: list[tuple[int, int, bool]]) -> list:
    def clock(minutes: int) -> str:
        return f"{minutes // 60:02}:{minutes % 60:02}"

    return [
        {"span": f"{clock(start)}-{clock(end)}", "overnight": True}
        if overnight
        else f"{clock(start)}-{clock(end)}"
        for start, end, overnight in spans
    ]


def brute_is_open(model: dict, moment: datetime) -> bool:
    wall = moment.astimezone(model["zone"])
    day, minute = (
        wall.date(),
        wall.hour * 60 + wall.minute + (wall.second + wall.microsecond / 1e6) / 60,
    )
    for start, end, overnight in brute_spans(model, day):
        if start <= minute < (DAY_MINUTES if overnight else end):
            return True
    return any(
        overnight and minute < end
        for _, end, overnight in brute_spans(model, day - timedelta(days=1))
    )


def brute_spans(model: dict, day: date) -> list[tuple[int, int, bool]]:
    if day in model["exceptions"]:
        return model["exceptions"][day]
    if model["holidays"] is not None and day in public_holidays(*model["holidays"], day.year):
        return []
    return model["weekly"].get(day.weekday(), [])


@cache
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holiday_data.country_holidays(country, subdiv=subdivision, years=year))


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """An instant in 2026-2027, often within a few hours of an offset change."""
    if draw(st.booleans()):
        base = datetime.fromisoformat(draw(st.sampled_from(TRANSITIONS[zone]))).replace(tzinfo=UTC)
        return base + timedelta(seconds=draw(st.integers(-6 * 3600, 6 * 3600)))
    moment = draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31, 23, 59)))
    return moment.replace(tzinfo=UTC)


def grid(start: datetime, end: datetime, limit: int = 1500) -> list[datetime]:
    """Instants on whole UTC minutes in [start, end), at most ``limit`` of them evenly spread."""
    first = start.replace(second=0, microsecond=0)
    if first < start:
        first += timedelta(minutes=1)
    minutes = max(0, int((end - first) / timedelta(minutes=1) - 1e-9) + 1) if end > first else 0
    step = max(1, -(-minutes // limit))
    return [first + timedelta(minutes=index) for index in range(0, minutes, step)]


PROPERTY = settings(  # no example database: the tests leave nothing behind in the checkout
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY
@given(data=st.data(), drawn=calendars())
def test_is_open_matches_wall_clock_reading(data, drawn):
    calendar, model = drawn
    for _ in range(20):
        moment = data.draw(instants(calendar.zone))
        assert is_open(calendar, moment) == brute_is_open(model, moment), moment


@PROPERTY
@given(data=st.data(), drawn=calendars())
def test_next_opening_is_the_first_open_instant(data, drawn):
    calendar, model = drawn
    moment = data.draw(instants(calendar.zone))
    opening = next_opening(calendar, moment)
    if opening is None:
        samples = grid(moment, moment + timedelta(days=400), limit=3000)
        assert not any(brute_is_open(model, sample) for sample in samples)
        return
    assert opening >= moment
    assert brute_is_open(model, opening)
    assert is_open(calendar, opening)
    assert not any(brute_is_open(model, sample) for sample in grid(moment, opening)), opening
    if opening > moment:
        assert not brute_is_open(model, max(moment, opening - timedelta(microseconds=1)))
        assert not brute_is_open(model, max(moment, opening - timedelta(seconds=30)))


@PROPERTY
@given(data=st.data(), drawn=calendars())
def test_next_closing_is_the_first_closed_instant(data, drawn):
    calendar, model = drawn
    moment = data.draw(instants(calendar.zone))
    closing = next_closing(calendar, moment)
    if closing is None:
        samples = grid(moment, moment + timedelta(days=400), limit=3000)
        assert all(brute_is_open(model, sample) for sample in samples)
        return
    assert closing >= moment
    assert not brute_is_open(model, closing)
    assert all(brute_is_open(model, sample) for sample in grid(moment, closing)), closing
    if closing > moment:
        assert brute_is_open(model, max(moment, closing - timedelta(microseconds=1)))


@PROPERTY
@given(data=st.data(), drawn=calendars())
def test_business_time_is_additive_and_counts_open_minutes(data, drawn):
    calendar, model = drawn
    first, second, third = sorted(data.draw(instants(calendar.zone)) for _ in range(3))
    third = min(third, first + timedelta(days=60))
    second = min(second, third)
    total = business_time(calendar, first, third)
    assert business_time(calendar, first, second) + business_time(calendar, second, third) == total
    assert timedelta() <= total <= third - first
    assert business_time(calendar, third, first) == timedelta()
    start = first.replace(second=0, microsecond=0)
    end = start + timedelta(hours=data.draw(st.integers(1, 12)))
    open_minutes = sum(brute_is_open(model, sample) for sample in grid(start, end))
    assert business_time(calendar, start, end) == timedelta(minutes=open_minutes)


@PROPERTY
@given(data=st.data(), drawn=calendars())
def test_add_business_time_inverts_business_time(data, drawn):
    calendar, model = drawn
    moment = data.draw(instants(calendar.zone))
    amount = timedelta(seconds=data.draw(st.integers(0, 20 * 24 * 3600)))
    due = add_business_time(calendar, moment, amount)
    if due is None:
        assert business_time(calendar, moment, moment + timedelta(days=400)) < amount
        return
    assert business_time(calendar, moment, due) == amount
    if amount:
        assert business_time(calendar, moment, due - timedelta(microseconds=1)) < amount
        assert brute_is_open(model, due - timedelta(microseconds=1))


@PROPERTY
@given(drawn=calendars())
def test_calendar_json_round_trips_for_any_calendar(drawn):
    calendar, _ = drawn
    assert build_calendar(**calendar_json(calendar)) == calendar
