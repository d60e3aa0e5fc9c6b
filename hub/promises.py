"""What the hub promises a customer: who answers and when (``routing.promise``), loaded.

Auto-replies and the widget's greeting are rare next to messages, so these
read each agent's future absences in full, where the hot path reads only the
absence covering the present moment.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from hub.assignment import agent_columns, agent_from
from hub.db.schema import agent_absences, agents, customers
from routing.owners import Absence, Agent, CustomerOwnership, available_from
from routing.promise import Promise, who_and_when


@dataclass(frozen=True)
class CustomerFacts:
    """What the hub knows about a customer that shapes what they are told."""

    owner_id: int | None
    backup_id: int | None
    zone: str | None
    locale: str | None
    agreed_channel: str | None


@dataclass(frozen=True)
class Told:
    """A promise with the names it mentions."""

    promise: Promise
    owner_name: str | None
    handler_name: str | None


def customer_facts(conn: Connection, customer_id: int) -> CustomerFacts:
    row = conn.execute(
        select(
            customers.c.owner_id,
            customers.c.backup_id,
            customers.c.zone,
            customers.c.locale,
            customers.c.agreed_channel,
        ).where(customers.c.id == customer_id)
    ).one()
    return CustomerFacts(*row)


def agents_ahead(
    conn: Connection, now: datetime, ids: Iterable[int] | None = None
) -> dict[int, Agent]:
    """Agents (those in ``ids``, else the whole team) with every absence not over at ``now``."""
    query = select(*agent_columns(agents))
    absences = select(
        agent_absences.c.agent_id, agent_absences.c.starts_at, agent_absences.c.ends_at
    )
    absences = absences.where(agent_absences.c.ends_at > now)
    if ids is not None:
        wanted = list(ids)
        query = query.where(agents.c.id.in_(wanted))
        absences = absences.where(agent_absences.c.agent_id.in_(wanted))
    ahead: defaultdict[int, list[Absence]] = defaultdict(list)
    for agent_id, starts_at, ends_at in conn.execute(absences):
        ahead[agent_id].append(Absence(starts_at, ends_at))
    team = (agent_from(row, now) for row in conn.execute(query, {"now": now}))
    return {agent.id: dataclasses.replace(agent, absences=tuple(ahead[agent.id])) for agent in team}


def promise_to(conn: Connection, facts: CustomerFacts, start: datetime, now: datetime) -> Told:
    """Who answers a customer whose message reaches the team at ``start``, and when."""
    team = agents_ahead(conn, now, _handler_ids(conn, facts))
    promise = who_and_when(CustomerOwnership(facts.owner_id, facts.backup_id), team, start)
    names = agent_names(conn, (facts.owner_id, promise.handler_id))
    return Told(promise, names.get(facts.owner_id), names.get(promise.handler_id))


def team_promise(conn: Connection, start: datetime, now: datetime) -> Promise:
    """When someone of the team is first available from ``start`` (a visitor nobody owns)."""
    earliest = min(
        (
            (moment, agent.id)
            for agent in agents_ahead(conn, now).values()
            if (moment := available_from(agent, start)) is not None
        ),
        default=None,
    )
    if earliest is None:
        return Promise(None, None, False, None)
    return Promise(earliest[1], earliest[0], False, None)


def _handler_ids(conn: Connection, facts: CustomerFacts) -> list[int]:
    ids = [i for i in (facts.owner_id, facts.backup_id) if i is not None]
    if facts.owner_id is not None:
        owners_backup = conn.execute(
            select(agents.c.backup_id).where(agents.c.id == facts.owner_id)
        ).scalar()
        if owners_backup is not None:
            ids.append(owners_backup)
    return ids


def agent_names(conn: Connection, ids: Iterable[int | None]) -> dict[int | None, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = conn.execute(select(agents.c.id, agents.c.name).where(agents.c.id.in_(wanted)))
    return {agent_id: name for agent_id, name in rows}
