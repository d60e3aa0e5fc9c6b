from datetime import UTC, datetime, timedelta

from routing.calendar_data import build_calendar
from routing.owners import (
    Absence,
    Agent,
    AgentLoad,
    CustomerOwnership,
    HandledBy,
    Handling,
    available_from,
    choose_owner,
    who_covers,
    who_handles,
)

NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)  # a Wednesday


def test_choose_owner_prefers_fewest_open_conversations():
    loads = [AgentLoad(1, 5), AgentLoad(2, 2), AgentLoad(3, 4)]
    assert choose_owner(loads, last_assigned_id=None) == 2


def test_choose_owner_breaks_ties_round_robin_in_id_order():
    loads = [AgentLoad(3, 1), AgentLoad(1, 1), AgentLoad(2, 1)]
    assert choose_owner(loads, last_assigned_id=None) == 1
    assert choose_owner(loads, last_assigned_id=1) == 2
    assert choose_owner(loads, last_assigned_id=2) == 3
    assert choose_owner(loads, last_assigned_id=3) == 1


def test_choose_owner_round_robin_skips_agents_not_tied():
    loads = [AgentLoad(1, 0), AgentLoad(2, 3), AgentLoad(3, 0)]
    assert choose_owner(loads, last_assigned_id=1) == 3
    assert choose_owner(loads, last_assigned_id=3) == 1


def test_choose_owner_with_nobody_available():
    assert choose_owner([], last_assigned_id=4) is None


AGENTS = {
    1: Agent(1),
    2: Agent(2, away=True, backup_id=3),
    3: Agent(3),
    4: Agent(4, away=True),
    5: Agent(5, active=False),
}


def test_available_owner_handles():
    assert who_handles(CustomerOwnership(1, backup_id=3), AGENTS, NOW) == Handling(
        1, HandledBy.OWNER
    )


def test_customer_backup_covers_for_away_owner():
    assert who_handles(CustomerOwnership(2, backup_id=1), AGENTS, NOW) == Handling(
        1, HandledBy.CUSTOMER_BACKUP
    )


def test_owner_backup_covers_when_customer_has_none():
    assert who_handles(CustomerOwnership(2), AGENTS, NOW) == Handling(3, HandledBy.OWNER_BACKUP)


def test_unavailable_customer_backup_falls_back_to_owner_backup():
    assert who_handles(CustomerOwnership(2, backup_id=4), AGENTS, NOW) == Handling(
        3, HandledBy.OWNER_BACKUP
    )


def test_conversation_waits_for_away_owner_without_backup():
    assert who_handles(CustomerOwnership(4), AGENTS, NOW) == Handling(
        None, HandledBy.WAITING_FOR_OWNER
    )


def test_deactivated_owner_is_not_available():
    assert who_handles(CustomerOwnership(5), AGENTS, NOW) == Handling(
        None, HandledBy.WAITING_FOR_OWNER
    )


def test_customer_without_owner_is_unowned():
    assert who_handles(CustomerOwnership(None, backup_id=1), AGENTS, NOW) == Handling(
        None, HandledBy.UNOWNED
    )


def test_unknown_owner_id_waits():
    assert who_handles(CustomerOwnership(99), AGENTS, NOW) == Handling(
        None, HandledBy.WAITING_FOR_OWNER
    )


SPLIT_HOURS = build_calendar(
    "Europe/Berlin", {"mon": ["08:00-12:00", "14:00-18:00"], "wed": ["08:00-12:00", "14:00-18:00"]}
)


def test_an_owner_outside_their_own_hours_is_covered_by_the_backup():
    lunch = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # 13:00 in Berlin, between the two spans
    team = {1: Agent(1, backup_id=2, hours=SPLIT_HOURS), 2: Agent(2)}
    assert who_handles(CustomerOwnership(1), team, NOW) == Handling(1, HandledBy.OWNER)
    assert who_handles(CustomerOwnership(1), team, lunch) == Handling(2, HandledBy.OWNER_BACKUP)


def test_an_absent_owner_is_covered_until_the_absence_ends():
    absence = Absence(NOW - timedelta(hours=1), NOW + timedelta(days=2))
    team = {1: Agent(1, absences=(absence,)), 2: Agent(2)}
    assert who_handles(CustomerOwnership(1, backup_id=2), team, NOW) == Handling(
        2, HandledBy.CUSTOMER_BACKUP
    )
    assert who_handles(CustomerOwnership(1, backup_id=2), team, absence.ends_at) == Handling(
        1, HandledBy.OWNER
    )


def test_available_from_steps_over_absences_and_closed_hours():
    absent_today = Absence(datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))
    agent = Agent(1, hours=SPLIT_HOURS, absences=(absent_today,))
    # Thursday and the weekend are closed: next Monday 08:00 Berlin (07:00 UTC).
    assert available_from(agent, NOW) == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
    assert available_from(Agent(1, hours=SPLIT_HOURS), NOW) == NOW


def test_available_from_is_unknown_for_an_agent_switched_away_or_inactive():
    assert available_from(Agent(1, away=True), NOW) is None
    assert available_from(Agent(1, active=False), NOW) is None


def test_a_long_absence_is_covered_by_a_backup_on_duty_whatever_their_hours():
    night = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
    absence = Absence(night, night + timedelta(days=7))
    team = {
        1: Agent(1, backup_id=3, absences=(absence,)),
        2: Agent(2, hours=SPLIT_HOURS),
        3: Agent(3, away=True),
        4: Agent(4, absences=(absence,)),
    }
    assert not team[2].available_at(night)
    assert who_covers(CustomerOwnership(1, backup_id=2), team, night) == Handling(
        2, HandledBy.CUSTOMER_BACKUP
    ), "outside their hours, but they take the conversation for the week"
    assert who_covers(CustomerOwnership(1, backup_id=4), team, night) == Handling(
        None, HandledBy.WAITING_FOR_OWNER
    ), "an absent customer's backup and an away owner's backup cover nothing"
    team[3] = Agent(3)
    assert who_covers(CustomerOwnership(1, backup_id=4), team, night) == Handling(
        3, HandledBy.OWNER_BACKUP
    )
    assert who_covers(CustomerOwnership(1, backup_id=1), team, night) == Handling(
        3, HandledBy.OWNER_BACKUP
    ), "the owner never covers for themselves"


def test_a_handed_over_absence_stays_with_the_backup_outside_the_backups_hours():
    evening = datetime(2026, 3, 4, 20, 0, tzinfo=UTC)  # 21:00 in Berlin
    absence = Absence(NOW - timedelta(days=1), NOW + timedelta(days=5), handed_over=True)
    team = {1: Agent(1, backup_id=2, absences=(absence,)), 2: Agent(2, hours=SPLIT_HOURS)}
    assert who_handles(CustomerOwnership(1), team, evening) == Handling(2, HandledBy.OWNER_BACKUP)
    short = Absence(absence.starts_at, absence.ends_at)
    team[1] = Agent(1, backup_id=2, absences=(short,))
    assert who_handles(CustomerOwnership(1), team, evening) == Handling(
        None, HandledBy.WAITING_FOR_OWNER
    ), "not handed over: the backup covers only inside their hours"
