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
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from connectors.base import Address
from hub.assignment import agent_columns, agent_from
from hub.contact import rules_for
from hub.db.schema import agent_absences, agents, customers, identities
from hub.senders import known_zone
from routing.autoreply import greeting_line
from routing.contact import hold_until
from routing.owners import Absence, Agent, CustomerOwnership, available_from
from routing.promise import Promise, who_and_when

NO_CUSTOMER = 0
"""A customer id nobody has: a visitor's rules before they are anyone's customer."""


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
        agent_absences.c.agent_id,
        agent_absences.c.starts_at,
        agent_absences.c.ends_at,
        agent_absences.c.handed_over_at.is_not(None) & agent_absences.c.handed_back_at.is_(None),
    )
    absences = absences.where(agent_absences.c.ends_at > now)
    if ids is not None:
        wanted = list(ids)
        query = query.where(agents.c.id.in_(wanted))
        absences = absences.where(agent_absences.c.agent_id.in_(wanted))
    ahead: defaultdict[int, list[Absence]] = defaultdict(list)
    for agent_id, starts_at, ends_at, handed_over in conn.execute(absences):
        ahead[agent_id].append(Absence(starts_at, ends_at, bool(handed_over)))
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


@dataclass(frozen=True)
class Reported:
    """What a visitor's own device says of them (the widget's hello)."""

    zone: str | None
    locale: str | None


def visitor_greeting(
    conn: Connection,
    channel: str,
    address: Address | None,
    team_name: str,
    seen: Reported,
    now: datetime,
) -> str:
    """Who will answer a visitor writing now on ``channel``, and when, as one line.

    A returning visitor with an owner hears who handles them (the owner, or
    who covers); anyone else (``address`` ``None``: a new visitor) the team's
    name and when someone is first back.
    """
    customer = None
    if address is not None:
        customer = conn.execute(
            select(identities.c.customer_id, customers.c.always_reachable)
            .join(customers, customers.c.id == identities.c.customer_id)
            .where(identities.c.kind == address.kind, identities.c.address == address.address)
        ).first()
    customer_id, always_reachable = customer if customer is not None else (NO_CUSTOMER, False)
    rules = rules_for(conn, customer_id, channel, always_reachable)
    start = hold_until(rules, now) or now
    facts = customer_facts(conn, customer_id) if customer is not None else None
    if facts is not None and facts.owner_id is not None:
        told = promise_to(conn, facts, start, now)
        who, at = told.handler_name or told.owner_name or team_name, told.promise.at
    else:
        who, at = team_name, team_promise(conn, start, now).at
    zone = rules.told_zone((facts.zone if facts else None) or known_zone(seen.zone))
    locale = (facts.locale if facts else None) or seen.locale
    return greeting_line(who, at, zone, locale, now)


class NewVisitorGreetings:
    """The greeting of visitors nobody knows, kept a minute per channel, zone and language:
    every page view of a busy site opens a widget, and the team's next hours change slowly."""

    KEEP = timedelta(minutes=1)
    MAX_KEYS = 1000

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str, Reported], tuple[datetime, str]] = {}

    def get(self, channel: str, team: str, seen: Reported, now: datetime) -> str | None:
        kept = self._kept.get((channel, team, seen))
        return kept[1] if kept is not None and now - kept[0] < self.KEEP else None

    def keep(self, channel: str, team: str, seen: Reported, now: datetime, line: str) -> None:
        if len(self._kept) >= self.MAX_KEYS:
            self._kept.clear()
        self._kept[(channel, team, seen)] = (now, line)
