"""Who answers and when (routing.promise), and how the auto-reply words it (routing.autoreply)."""

from datetime import UTC, datetime, timedelta

import pytest

from routing.autoreply import (
    DEFAULT_AUTOREPLY,
    AutoreplyFacts,
    Zone,
    autoreply_text,
    template_problems,
)
from routing.calendar_data import build_calendar
from routing.owners import Absence, Agent, CustomerOwnership
from routing.promise import Promise, who_and_when

NOW = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)  # a Saturday
MONDAY_9 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
OFFICE = build_calendar("UTC", {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")})


def away_until(agent_id: int, until: datetime, **fields: object) -> Agent:
    return Agent(agent_id, absences=(Absence(NOW, until),), **fields)  # type: ignore[arg-type]


def test_the_owner_available_at_the_start_answers():
    team = {1: Agent(1, hours=OFFICE), 2: Agent(2)}
    promise = who_and_when(CustomerOwnership(1, 2), team, MONDAY_9)
    assert promise == Promise(1, MONDAY_9, True, MONDAY_9)


def test_owner_absent_the_backup_answers_and_the_owners_return_is_known():
    back = MONDAY_9 + timedelta(days=2)
    team = {1: away_until(1, back), 2: Agent(2)}
    assert who_and_when(CustomerOwnership(1, 2), team, MONDAY_9) == Promise(
        2, MONDAY_9, False, back
    )


def test_with_nobody_available_the_earliest_back_answers_then():
    owner_back, backup_back = MONDAY_9 + timedelta(days=2), MONDAY_9 + timedelta(days=1)
    owners_backup_back = MONDAY_9 + timedelta(hours=3)
    team = {
        1: away_until(1, owner_back, backup_id=3),
        2: away_until(2, backup_back),
        3: away_until(3, owners_backup_back),
    }
    assert who_and_when(CustomerOwnership(1, 2), team, MONDAY_9) == Promise(
        3, owners_backup_back, False, owner_back
    )


def test_the_owner_wins_a_tie_and_agents_hours_count():
    team = {1: Agent(1, hours=OFFICE), 2: Agent(2, hours=OFFICE)}
    assert who_and_when(CustomerOwnership(1, 2), team, NOW) == Promise(1, MONDAY_9, True, MONDAY_9)


def test_nobody_ever_available_promises_no_time():
    team = {1: Agent(1, away=True)}
    assert who_and_when(CustomerOwnership(1, None), team, NOW) == Promise(None, None, False, None)


def facts(**changes: object) -> AutoreplyFacts:
    values: dict[str, object] = {
        "owner_name": "Maria",
        "handler_name": "Maria",
        "answer_at": MONDAY_9,
        "owner_back": MONDAY_9,
        "by_owner": True,
        "opens_at": MONDAY_9,
        "zone": Zone("Europe/London", own=True),
        **changes,
    }
    return AutoreplyFacts(**values)  # type: ignore[arg-type]


def test_default_text_names_who_when_and_how_in_the_customers_time():
    assert autoreply_text(DEFAULT_AUTOREPLY, facts(mode="email"), NOW) == (
        "Thanks for your message; it is saved. Maria will reply by email at 09:00 Monday, "
        "your time."
    )


def test_a_backup_answering_names_the_owners_return():
    later = MONDAY_9 + timedelta(days=2)
    text = autoreply_text(
        DEFAULT_AUTOREPLY, facts(handler_name="Tom", by_owner=False, owner_back=later), NOW
    )
    assert text == (
        "Thanks for your message; it is saved. Tom will reply here at 09:00 Monday, your time. "
        "Maria is back at 09:00 Wednesday, your time."
    )


def test_a_zone_not_the_customers_own_is_named():
    text = autoreply_text("{when}", facts(zone=Zone("America/New_York", own=False)), NOW)
    assert text == "05:00 Monday, New York Time"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (None, "10:00 Monday 16 March, Berlin Time"),
        ("de", "10:00 Montag 16. März, Berlin (Ortszeit)"),
        ("fr-FR", "10:00 lundi 16 mars, heure : Berlin"),
        ("xx-nonsense", "10:00 Monday 16 March, Berlin Time"),
    ],
)
def test_weekday_month_and_zone_in_the_customers_language(locale, expected):
    in_a_week = MONDAY_9 + timedelta(days=7)
    berlin = Zone("Europe/Berlin", own=False)
    told = facts(answer_at=in_a_week, zone=berlin, locale=locale)
    assert autoreply_text("{when}", told, NOW) == expected


def test_old_templates_keep_their_meaning():
    old = "{owner} is away until {opens} your time ({zone})"
    assert autoreply_text(old, facts(), NOW) == (
        "Maria is away until 09:00 Monday your time (Europe/London)"
    )


def test_template_problems_accept_the_new_placeholders():
    assert template_problems("{handler} {when} {owner_back} {owner_away} {mode}") == []
    assert template_problems("{until}")[0].startswith("unknown placeholder {until}")
