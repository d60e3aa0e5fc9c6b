"""Contact hours and channel rules as stored: loading them for a message, editing them.

The config file seeds them; admins change them at runtime through the API.
Decisions about them are pure and live in ``routing/contact.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)

from config.schema import HoursSettings, Settings
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import channel_rules, contact_hours
from routing.calendar import Calendar
from routing.contact import DEFAULT_AUTOREPLY, ContactRules

DEFAULT_SCOPE = "default"
CHANNEL_SCOPE = "channel"
CUSTOMER_SCOPE = "customer"
AGENT_SCOPE = "agent"
"""An agent's own working hours (subject: the agent's id)."""
DEFAULT_CHANNEL = "*"
"""The ``channel_rules`` row whose values apply to channels that set none."""


def stored_hours(scope: str, subject: Any) -> Any:
    """One stored calendar's definition (JSON text) as a scalar subquery."""
    return (
        select(cast(contact_hours.c.definition, Text))
        .where(contact_hours.c.scope == scope, contact_hours.c.subject == subject)
        .scalar_subquery()
    )


def _rule(column: Any, channel: Any) -> Any:
    return select(column).where(channel_rules.c.channel == channel).scalar_subquery()


def _rule_or_default(column: Any, channel: Any) -> Any:
    return func.coalesce(_rule(column, channel), _rule(column, DEFAULT_CHANNEL))


def rule_columns(customer: Any, channel: Any) -> tuple[Any, ...]:
    """The calendars and rules for ``customer`` (its id as text) writing on ``channel``.

    Columns, so that the query finding a message's sender returns them too
    (see ``hub/ingest.py``); :func:`rules_from` reads them back.
    """
    return (
        stored_hours(CUSTOMER_SCOPE, customer),
        stored_hours(CHANNEL_SCOPE, channel),
        stored_hours(DEFAULT_SCOPE, ""),
        _rule(channel_rules.c.never_hold, channel),
        _rule_or_default(channel_rules.c.autoreply_template, channel),
        _rule_or_default(channel_rules.c.first_response_minutes, channel),
        _rule_or_default(channel_rules.c.next_response_minutes, channel),
    )


RULES = Prepared(select(*rule_columns(bindparam("customer"), bindparam("channel"))))


@lru_cache(maxsize=4096)
def parse_hours(definition: str) -> Calendar:
    """Calendars parsed once per distinct stored definition."""
    return HoursSettings.model_validate_json(definition).calendar()


def rules_for(
    conn: Connection, customer_id: int, channel: str, always_reachable: bool
) -> ContactRules:
    """The calendars and rules that apply to one customer writing on one channel."""
    row = RULES.first(conn, customer=str(customer_id), channel=channel)
    assert row is not None
    return rules_from(row, always_reachable)


def rules_from(columns: Sequence[Any], always_reachable: bool) -> ContactRules:
    """Contact rules from the values of :func:`rule_columns`."""
    customer_hours, channel_hours, default_hours, never_hold, template, first, following = columns
    return ContactRules(
        customer_hours=parse_hours(customer_hours) if customer_hours else None,
        channel_hours=parse_hours(channel_hours) if channel_hours else None,
        default_hours=parse_hours(default_hours) if default_hours else None,
        never_hold=bool(never_hold),
        always_reachable=always_reachable,
        autoreply_template=template or DEFAULT_AUTOREPLY,
        first_response_minutes=first,
        next_response_minutes=following,
    )


def hours_definition(hours: HoursSettings | None) -> dict[str, Any] | None:
    return None if hours is None else hours.model_dump(mode="json", exclude_none=True)


def read_hours(conn: Connection, scope: str, subject: str) -> dict[str, Any] | None:
    return conn.execute(
        select(contact_hours.c.definition).where(
            contact_hours.c.scope == scope, contact_hours.c.subject == subject
        )
    ).scalar()


def write_hours(tx: Tx, scope: str, subject: str, hours: HoursSettings | None) -> None:
    """Set (or with ``None`` remove) one calendar."""
    where = (contact_hours.c.scope == scope) & (contact_hours.c.subject == subject)
    tx.conn.execute(delete(contact_hours).where(where))
    if hours is not None:
        tx.conn.execute(
            insert(contact_hours).values(
                scope=scope, subject=subject, definition=hours_definition(hours), updated_at=tx.now
            )
        )


def read_channel_rules(conn: Connection, channel: str) -> dict[str, Any] | None:
    row = conn.execute(select(channel_rules).where(channel_rules.c.channel == channel)).first()
    if row is None:
        return None
    fields = row._asdict()
    fields.pop("channel")
    fields.pop("updated_at")
    return fields


def write_channel_rules(tx: Tx, channel: str, rules: dict[str, Any]) -> None:
    """Replace a channel's rules (never_hold, autoreply_template, response minutes)."""
    values = {**rules, "updated_at": tx.now}
    changed = tx.conn.execute(
        update(channel_rules).where(channel_rules.c.channel == channel).values(values)
    ).rowcount
    if not changed:
        tx.conn.execute(insert(channel_rules).values(channel=channel, **values))


def seed_from_settings(settings: Settings, tx: Tx) -> None:
    """Copy the config file's hours and rules into the database where none are stored yet.

    What admins changed at runtime wins over the file: only missing rows are added.
    """
    seeds: list[tuple[str, str, HoursSettings | None]] = [(DEFAULT_SCOPE, "", settings.hours)]
    seeds += [(CHANNEL_SCOPE, c.name, c.hours) for c in settings.channels]
    for scope, subject, hours in seeds:
        if hours is not None and read_hours(tx.conn, scope, subject) is None:
            write_hours(tx, scope, subject, hours)
    rules = {DEFAULT_CHANNEL: channel_rules_of(settings.autoreply, settings.sla, never_hold=False)}
    for channel in settings.channels:
        rules[channel.name] = channel_rules_of(channel.autoreply, channel.sla, channel.never_hold)
    for channel, values in rules.items():
        if read_channel_rules(tx.conn, channel) is None:
            write_channel_rules(tx, channel, values)


def channel_rules_of(template: str | None, sla: Any, never_hold: bool) -> dict[str, Any]:
    return {
        "never_hold": never_hold,
        "autoreply_template": template,
        "first_response_minutes": sla.first_response_minutes if sla else None,
        "next_response_minutes": sla.next_response_minutes if sla else None,
    }
