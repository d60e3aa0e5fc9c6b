"""What only admins may do: agents, customers' owners, merges, channels, the audit log."""

from __future__ import annotations

from functools import partial
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, select

from config.schema import ChannelSettings
from connectors.base import ConnectorError
from connectors.settings import EnvSecret
from hub.api.answers import (
    Agent,
    AuditEntry,
    ChannelState,
    ChannelTest,
    Customer,
    MergedCustomer,
    Quarantined,
    QuarantinedOne,
    Reassigned,
)
from hub.api.framework import Access, Api, Call
from hub.api.models import (
    AgentIn,
    AgentPatch,
    AuditQuery,
    ChannelPatch,
    CustomerPatch,
    CustomersQuery,
    IdentityIn,
    MergeIn,
    ReassignIn,
    present_fields,
)
from hub.assignment import record_audit
from hub.channel_support import list_quarantine, quarantined_raw
from hub.customers import (
    add_identity,
    get_customer,
    merge_customers,
    reassign_all,
    search_customers,
    update_customer,
)
from hub.db.database import Tx
from hub.db.schema import agents as agents_table
from hub.db.schema import audit_log
from hub.errors import Conflict, NotFound
from hub.logs import outside_request
from hub.serialize import iso
from hub.team import create_agent, get_agent, list_agents, update_agent

admin_api = Api()
PREVIEW_BYTES = 4000
AGENT = "/api/admin/agents/{agent_id:\\d+}"
CUSTOMER = "/api/admin/customers/{customer_id:\\d+}"


@admin_api.route(
    "GET",
    "/api/admin/agents",
    summary="All agents",
    access=Access.ADMIN,
    tag="admin",
    response=list[Agent],
)
async def agents(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.read(list_agents)


@admin_api.route(
    "POST",
    "/api/admin/agents",
    summary="Create an agent or admin",
    access=Access.ADMIN,
    tag="admin",
    body=AgentIn,
    status=201,
    response=Agent,
)
async def new_agent(call: Call) -> dict[str, Any]:
    body: AgentIn = call.body
    password_hash = await call.hub.passwords.hash(body.password)
    return await call.hub.db.write(
        partial(create_agent, call.agent.agent_id, body.email, body.name, password_hash, body.role)
    )


@admin_api.route(
    "PATCH",
    AGENT,
    summary="Change an agent: name, role, deactivate, away with a backup",
    access=Access.ADMIN,
    tag="admin",
    body=AgentPatch,
    response=Agent,
)
async def change_agent(call: Call) -> dict[str, Any]:
    agent_id = call.path_int("agent_id")
    await call.hub.db.read(lambda conn: get_agent(conn, agent_id))
    changes = present_fields(call.body, nullable={"backup_id"})
    if "password" in changes:
        changes["password_hash"] = await call.hub.passwords.hash(str(changes.pop("password")))
    return await call.hub.db.write(partial(update_agent, call.agent.agent_id, agent_id, changes))


@admin_api.route(
    "POST",
    AGENT + "/reassign",
    summary="Give all of this agent's customers to another agent",
    access=Access.ADMIN,
    tag="admin",
    body=ReassignIn,
    response=Reassigned,
)
async def reassign(call: Call) -> dict[str, Any]:
    agent_id = call.path_int("agent_id")
    await call.hub.db.read(lambda conn: get_agent(conn, agent_id))
    body: ReassignIn = call.body
    return await call.hub.db.write(
        partial(reassign_all, call.agent.agent_id, agent_id, body.to_agent_id)
    )


@admin_api.route(
    "GET",
    "/api/admin/customers",
    summary="Find customers by name or address, or by owner",
    access=Access.ADMIN,
    tag="admin",
    query=CustomersQuery,
    response=list[Customer],
)
async def customers(call: Call) -> list[dict[str, Any]]:
    query: CustomersQuery = call.query
    return await call.hub.db.read(lambda conn: search_customers(conn, query.q, query.owner_id))


@admin_api.route(
    "GET",
    CUSTOMER,
    summary="One customer with identities, owner and backup",
    access=Access.ADMIN,
    tag="admin",
    operation_id="admin_customer",
    response=Customer,
)
async def customer(call: Call) -> dict[str, Any]:
    customer_id = call.path_int("customer_id")
    return await call.hub.db.read(lambda conn: get_customer(conn, customer_id))


@admin_api.route(
    "PATCH",
    CUSTOMER,
    summary="Set a customer's name, owner or backup (audited)",
    access=Access.ADMIN,
    tag="admin",
    body=CustomerPatch,
    response=Customer,
)
async def change_customer(call: Call) -> dict[str, Any]:
    changes = present_fields(call.body, nullable={"owner_id", "backup_id"})
    return await call.hub.db.write(
        partial(update_customer, call.agent.agent_id, call.path_int("customer_id"), changes)
    )


@admin_api.route(
    "POST",
    CUSTOMER + "/identities",
    summary="Link another identity to the customer",
    access=Access.ADMIN,
    tag="admin",
    body=IdentityIn,
    status=201,
    response=Customer,
)
async def link_identity(call: Call) -> dict[str, Any]:
    body: IdentityIn = call.body
    return await call.hub.db.write(
        partial(
            add_identity, call.agent.agent_id, call.path_int("customer_id"), body.kind, body.address
        )
    )


@admin_api.route(
    "POST",
    CUSTOMER + "/merge",
    summary="Merge another customer into this one, with all history",
    access=Access.ADMIN,
    tag="admin",
    body=MergeIn,
    response=MergedCustomer,
)
async def merge(call: Call) -> dict[str, Any]:
    body: MergeIn = call.body
    return await call.hub.db.write(
        partial(
            merge_customers,
            call.agent.agent_id,
            call.path_int("customer_id"),
            body.merge_customer_id,
        )
    )


@admin_api.route(
    "GET",
    "/api/admin/channels",
    summary="Configured channels",
    access=Access.ADMIN,
    tag="admin",
    operation_id="admin_channels",
    response=list[ChannelState],
)
async def channels(call: Call) -> list[dict[str, Any]]:
    return [channel_json(call, channel) for channel in call.hub.settings.channels]


def channel_json(call: Call, channel: ChannelSettings) -> dict[str, Any]:
    connector = call.hub.all_connectors[channel.name]
    enabled = channel.name in call.hub.connectors
    halted = connector.halted if enabled else None
    return {
        "name": channel.name,
        "kind": channel.kind,
        "enabled": enabled,
        "enabled_in_config": channel.enabled,
        "status": "stopped" if halted else "running" if enabled else "disabled",
        "reason": halted.reason if halted else None,
        "identity_kind": connector.identity_kind,
        "credentials": credential_variables(channel),
    }


def credential_variables(settings: BaseModel) -> list[str]:
    """The environment variables the settings read secrets from: their names, never values."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, EnvSecret):
            found.append(value.variable)
        elif isinstance(value, BaseModel):
            found += credential_variables(value)
    return found


@admin_api.route(
    "PATCH",
    "/api/admin/channels/{name}",
    summary="Switch a channel on or off now (kept across restarts; audited)",
    access=Access.ADMIN,
    tag="admin",
    body=ChannelPatch,
    response=ChannelState,
)
async def switch_channel(call: Call) -> dict[str, Any]:
    name = call.request.match_info["name"]
    channel = call.hub.settings.channel(name)
    if channel is None:
        raise NotFound(f"channel {name!r} is not configured")
    body: ChannelPatch = call.body
    try:
        with outside_request():
            await call.hub.set_channel_enabled(name, body.enabled)
    except (ConnectorError, OSError) as error:
        raise Conflict(f"channel {name!r} did not start: {error}") from None
    position = call.hub.settings.channels.index(channel) + 1

    def audit_switch(tx: Tx) -> None:
        action = "channel.enabled" if body.enabled else "channel.disabled"
        record_audit(tx, call.agent.agent_id, action, "channel", position, channel=name)

    await call.hub.db.write(audit_switch)
    return channel_json(call, channel)


@admin_api.route(
    "POST",
    "/api/admin/channels/{name}/test",
    summary="Test a channel's connection and credentials",
    access=Access.ADMIN,
    tag="admin",
    response=ChannelTest,
)
async def test_channel(call: Call) -> dict[str, Any]:
    name = call.request.match_info["name"]
    connector = call.hub.connectors.get(name)
    if connector is None:
        raise NotFound(f"channel {name!r} is not configured or not enabled")
    try:
        detail = await connector.test_connection()
    except ConnectorError as error:
        return {"channel": name, "ok": False, "detail": error.reason}
    return {"channel": name, "ok": True, "detail": detail}


@admin_api.route(
    "GET",
    "/api/admin/audit",
    summary="The audit log, newest first",
    access=Access.ADMIN,
    tag="admin",
    query=AuditQuery,
    response=list[AuditEntry],
)
async def audit(call: Call) -> list[dict[str, Any]]:
    query: AuditQuery = call.query

    def load(conn: Connection) -> list[dict[str, Any]]:
        select_audit = (
            select(audit_log, agents_table.c.name.label("actor_name"))
            .outerjoin(agents_table, agents_table.c.id == audit_log.c.actor_id)
            .order_by(audit_log.c.id.desc())
            .limit(query.limit)
        )
        if query.subject_type:
            select_audit = select_audit.where(audit_log.c.subject_type == query.subject_type)
        if query.subject_id:
            select_audit = select_audit.where(audit_log.c.subject_id == query.subject_id)
        return [
            {
                "id": row.id,
                "actor_id": row.actor_id,
                "actor_name": row.actor_name,
                "action": row.action,
                "subject_type": row.subject_type,
                "subject_id": row.subject_id,
                "details": row.details,
                "at": iso(row.at),
            }
            for row in conn.execute(select_audit)
        ]

    return await call.hub.db.read(load)


@admin_api.route(
    "GET",
    "/api/admin/quarantine",
    summary="Input channels could not turn into messages, newest first, with the reason",
    access=Access.ADMIN,
    tag="admin",
    response=list[Quarantined],
)
async def quarantined(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.read(list_quarantine)


@admin_api.route(
    "GET",
    "/api/admin/quarantine/{quarantine_id:\\d+}",
    summary="One quarantined input: the reason and the start of the raw input as text",
    access=Access.ADMIN,
    tag="admin",
    response=QuarantinedOne,
)
async def quarantined_one(call: Call) -> dict[str, Any]:
    quarantine_id = call.path_int("quarantine_id")
    raw = await call.hub.db.read(partial(quarantined_raw, quarantine_id))
    if raw is None:
        raise NotFound(f"quarantined input {quarantine_id} does not exist")
    (entry,) = await call.hub.db.read(partial(list_quarantine, only=quarantine_id))
    return {**entry, "preview": raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")}
