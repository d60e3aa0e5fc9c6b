"""The contact rules the reports time waits by: every calendar and channel rule, read once."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from sqlalchemy import Connection, select

from hub.contact import (
    CHANNEL_SCOPE,
    CUSTOMER_SCOPE,
    DEFAULT_CHANNEL,
    DEFAULT_SCOPE,
    rules_from,
)
from hub.db.schema import channel_rules, contact_hours
from routing.contact import ContactRules
from routing.reports import RulesOf


def rules_lookup(conn: Connection) -> RulesOf:
    """Every calendar and channel rule, read once, as a lookup per (customer, channel): the
    values :func:`hub.contact.rule_columns` would select, read back by ``rules_from``."""
    hours = {
        (scope, subject): _json_text(definition)
        for scope, subject, definition in conn.execute(
            select(contact_hours.c.scope, contact_hours.c.subject, contact_hours.c.definition)
        )
    }
    rules = {row.channel: row for row in conn.execute(select(channel_rules))}
    fallback = rules.get(DEFAULT_CHANNEL)

    def rule(channel: str, name: str, default: bool = True) -> Any:
        own = getattr(rules[channel], name) if channel in rules else None
        if own is None and default and fallback is not None:
            return getattr(fallback, name)
        return own

    @cache
    def rules_of(customer_id: int, channel: str) -> ContactRules:
        columns = (
            hours.get((CUSTOMER_SCOPE, str(customer_id))),
            hours.get((CHANNEL_SCOPE, channel)),
            hours.get((DEFAULT_SCOPE, "")),
            rule(channel, "never_hold", default=False),
            rule(channel, "autoreply_template"),
            rule(channel, "first_response_minutes"),
            rule(channel, "next_response_minutes"),
        )
        return rules_from(columns, always_reachable=False)

    return rules_of


def _json_text(definition: Any) -> str:
    return definition if isinstance(definition, str) else json.dumps(definition, sort_keys=True)
