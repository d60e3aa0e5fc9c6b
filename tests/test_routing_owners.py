from routing.owners import (
    Agent,
    AgentLoad,
    CustomerOwnership,
    HandledBy,
    Handling,
    choose_owner,
    who_handles,
)


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
    assert who_handles(CustomerOwnership(1, backup_id=3), AGENTS) == Handling(1, HandledBy.OWNER)


def test_customer_backup_covers_for_away_owner():
    assert who_handles(CustomerOwnership(2, backup_id=1), AGENTS) == Handling(
        1, HandledBy.CUSTOMER_BACKUP
    )


def test_owner_backup_covers_when_customer_has_none():
    assert who_handles(CustomerOwnership(2), AGENTS) == Handling(3, HandledBy.OWNER_BACKUP)


def test_unavailable_customer_backup_falls_back_to_owner_backup():
    assert who_handles(CustomerOwnership(2, backup_id=4), AGENTS) == Handling(
        3, HandledBy.OWNER_BACKUP
    )


def test_conversation_waits_for_away_owner_without_backup():
    assert who_handles(CustomerOwnership(4), AGENTS) == Handling(None, HandledBy.WAITING_FOR_OWNER)


def test_deactivated_owner_is_not_available():
    assert who_handles(CustomerOwnership(5), AGENTS) == Handling(None, HandledBy.WAITING_FOR_OWNER)


def test_customer_without_owner_is_unowned():
    assert who_handles(CustomerOwnership(None, backup_id=1), AGENTS) == Handling(
        None, HandledBy.UNOWNED
    )


def test_unknown_owner_id_waits():
    assert who_handles(CustomerOwnership(99), AGENTS) == Handling(None, HandledBy.WAITING_FOR_OWNER)
