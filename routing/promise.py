"""Who will answer a customer, and when: the promise an auto-reply or the widget makes.

Pure: the same rules as :func:`routing.owners.who_handles`, looked at from the
moment a message reaches the team (now, or the end of its hold) onwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from routing.owners import Agent, CustomerOwnership, HandledBy, available_from, who_handles


@dataclass(frozen=True)
class Promise:
    """``handler_id`` answers at ``at``; ``owner_back``: when the owner is available again.

    ``handler_id`` and ``at`` are ``None`` when no calendar says when anyone
    is back (nobody covers and the owner is inactive or switched to away).
    """

    handler_id: int | None
    at: datetime | None
    by_owner: bool
    owner_back: datetime | None


def who_and_when(
    customer: CustomerOwnership, agents: Mapping[int, Agent], start: datetime
) -> Promise:
    """Who answers a message that reaches the team at ``start``, and from when.

    Whoever :func:`who_handles` names at ``start``; with nobody available then,
    the first of the owner and the backups to become available (the owner on a
    tie, then the customer's backup), as routing will hand it to them then.
    """
    owner = agents.get(customer.owner_id) if customer.owner_id is not None else None
    owner_back = available_from(owner, start) if owner is not None else None
    handling = who_handles(customer, agents, start)
    if handling.agent_id is not None:
        return Promise(handling.agent_id, start, handling.by is HandledBy.OWNER, owner_back)
    earliest: tuple[datetime, int] | None = None
    for agent in _owner_then_backups(customer, owner, agents):
        moment = available_from(agent, start)
        if moment is not None and (earliest is None or moment < earliest[0]):
            earliest = (moment, agent.id)
    if earliest is None:
        return Promise(None, None, False, owner_back)
    moment, agent_id = earliest
    return Promise(agent_id, moment, agent_id == customer.owner_id, owner_back)


def _owner_then_backups(
    customer: CustomerOwnership, owner: Agent | None, agents: Mapping[int, Agent]
) -> list[Agent]:
    ids = (customer.owner_id, customer.backup_id, owner.backup_id if owner else None)
    found = [agents[agent_id] for agent_id in ids if agent_id is not None and agent_id in agents]
    return list({agent.id: agent for agent in found}.values())
