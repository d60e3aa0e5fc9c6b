"""Contact hours, channel rules, held messages and scheduled replies."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import Connection, select, update

from hub.api.answers import ChannelRules, Customer, CustomerHours, DefaultHours, Message, Waiting
from hub.api.framework import Access, Api, Call
from hub.api.inbox import check_customer_visible
from hub.api.models import (
    AgreedChannelIn,
    ChannelRulesIn,
    CustomerHoursIn,
    HoursIn,
    ScheduledEditIn,
    ScopeQuery,
)
from hub.contact import (
    CHANNEL_SCOPE,
    CUSTOMER_SCOPE,
    DEFAULT_SCOPE,
    read_channel_rules,
    read_hours,
    write_channel_rules,
    write_hours,
)
from hub.customers import agree_channel, get_customer
from hub.db.database import Tx
from hub.db.schema import customers
from hub.errors import Forbidden, NotFound
from hub.inbox_views import waiting_messages
from hub.scheduled import cancel_scheduled, edit_scheduled, reschedule_replies, send_scheduled_now

hours_api = Api()
CHANNEL_RULES = "/api/admin/channels/{name}/rules"
CUSTOMER_HOURS = "/api/customers/{customer_id:\\d+}/contact-hours"
SCHEDULED = "/api/messages/{message_id:\\d+}"


@hours_api.route(
    "GET",
    "/api/admin/hours",
    summary="The hub's default contact hours",
    access=Access.ADMIN,
    tag="admin",
    response=DefaultHours,
)
async def default_hours(call: Call) -> dict[str, Any]:
    return {"hours": await call.hub.db.read(lambda conn: read_hours(conn, DEFAULT_SCOPE, ""))}


@hours_api.route(
    "PUT",
    "/api/admin/hours",
    summary="Set the hub's default contact hours; held messages get new release times",
    access=Access.ADMIN,
    tag="admin",
    body=HoursIn,
    response=DefaultHours,
)
async def set_default_hours(call: Call) -> dict[str, Any]:
    body: HoursIn = call.body
    await call.hub.db.write(lambda tx: write_hours(tx, DEFAULT_SCOPE, "", body.hours))
    await call.hub.holds.recompute()
    return await default_hours(call)


def channel_name(call: Call) -> str:
    name = call.request.match_info["name"]
    if call.hub.settings.channel(name) is None:
        raise NotFound(f"channel {name!r} is not configured")
    return name


def channel_rules_json(channel: str, conn: Connection) -> dict[str, Any]:
    rules = read_channel_rules(conn, channel) or {"never_hold": False}
    return {"channel": channel, "hours": read_hours(conn, CHANNEL_SCOPE, channel), **rules}


@hours_api.route(
    "GET",
    CHANNEL_RULES,
    summary="A channel's hours, hold and auto-reply rules, SLA",
    access=Access.ADMIN,
    tag="admin",
    response=ChannelRules,
)
async def channel_rules(call: Call) -> dict[str, Any]:
    return await call.hub.db.read(partial(channel_rules_json, channel_name(call)))


@hours_api.route(
    "PUT",
    CHANNEL_RULES,
    summary="Replace a channel's hours and rules; held messages get new release times",
    access=Access.ADMIN,
    tag="admin",
    body=ChannelRulesIn,
    response=ChannelRules,
)
async def set_channel_rules(call: Call) -> dict[str, Any]:
    channel = channel_name(call)
    body: ChannelRulesIn = call.body

    def write(tx: Tx) -> None:
        write_hours(tx, CHANNEL_SCOPE, channel, body.hours)
        write_channel_rules(tx, channel, body.model_dump(exclude={"hours"}))

    await call.hub.db.write(write)
    await call.hub.holds.recompute()
    return await call.hub.db.read(partial(channel_rules_json, channel))


def customer_hours_json(customer_id: int, conn: Connection) -> dict[str, Any]:
    always = conn.execute(
        select(customers.c.always_reachable).where(customers.c.id == customer_id)
    ).scalar()
    if always is None:
        raise NotFound(f"customer {customer_id} does not exist")
    hours = read_hours(conn, CUSTOMER_SCOPE, str(customer_id))
    return {"customer_id": customer_id, "hours": hours, "always_reachable": always}


@hours_api.route(
    "GET",
    CUSTOMER_HOURS,
    summary="The contact hours agreed with a customer",
    access=Access.AGENT,
    tag="inbox",
    response=CustomerHours,
)
async def customer_hours(call: Call) -> dict[str, Any]:
    customer_id = call.path_int("customer_id")

    def load(conn: Connection) -> dict[str, Any]:
        check_customer_visible(call.agent, customer_id, conn)
        return customer_hours_json(customer_id, conn)

    return await call.hub.db.read(load)


@hours_api.route(
    "PUT",
    CUSTOMER_HOURS,
    summary="Agree contact hours with a customer (or mark them always reachable)",
    access=Access.AGENT,
    tag="inbox",
    body=CustomerHoursIn,
    response=CustomerHours,
)
async def set_customer_hours(call: Call) -> dict[str, Any]:
    customer_id = call.path_int("customer_id")
    body: CustomerHoursIn = call.body

    def write(tx: Tx) -> dict[str, Any]:
        check_customer_visible(call.agent, customer_id, tx.conn)
        customer_hours_json(customer_id, tx.conn)
        write_hours(tx, CUSTOMER_SCOPE, str(customer_id), body.hours)
        tx.conn.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(always_reachable=body.always_reachable)
        )
        reschedule_replies(tx, customer_id)
        return customer_hours_json(customer_id, tx.conn)

    result = await call.hub.db.write(write)
    await call.hub.holds.recompute()
    return result


@hours_api.route(
    "PUT",
    "/api/customers/{customer_id:\\d+}/agreed-channel",
    summary="Agree how a customer is answered: replies go to that kind of identity by default",
    access=Access.AGENT,
    tag="inbox",
    body=AgreedChannelIn,
    response=Customer,
)
async def set_agreed_channel(call: Call) -> dict[str, Any]:
    customer_id = call.path_int("customer_id")
    body: AgreedChannelIn = call.body

    def write(tx: Tx) -> dict[str, Any]:
        check_customer_visible(call.agent, customer_id, tx.conn)
        agree_channel(
            tx, call.agent.agent_id, customer_id, body.agreed_channel, call.hub.channels_by_kind
        )
        return get_customer(tx.conn, customer_id)

    return await call.hub.db.write(write)


@hours_api.route(
    "GET",
    "/api/held",
    summary="Held messages waiting for contact hours, with their release times",
    access=Access.AGENT,
    tag="inbox",
    query=ScopeQuery,
    response=list[Waiting],
)
async def held(call: Call) -> list[dict[str, Any]]:
    query: ScopeQuery = call.query
    return await call.hub.db.read(partial(waiting_messages, "held", scoped_agent(call, query)))


def scoped_agent(call: Call, query: ScopeQuery) -> int | None:
    """The agent whose view is wanted; ``None``: everyone's, which only admins may see."""
    if query.scope == "all" and not call.agent.is_admin:
        raise Forbidden("only admins can see everyone's messages")
    return None if query.scope == "all" else call.agent.agent_id


@hours_api.route(
    "GET",
    "/api/scheduled",
    summary="My replies waiting for the customer's hours, with the time they will be sent",
    access=Access.AGENT,
    tag="inbox",
    query=ScopeQuery,
    response=list[Waiting],
)
async def scheduled(call: Call) -> list[dict[str, Any]]:
    query: ScopeQuery = call.query
    return await call.hub.db.read(partial(waiting_messages, "scheduled", scoped_agent(call, query)))


@hours_api.route(
    "POST",
    SCHEDULED + "/send-now",
    summary="Send a scheduled reply now, outside the customer's hours",
    access=Access.AGENT,
    tag="inbox",
    response=Message,
)
async def send_now(call: Call) -> dict[str, Any]:
    message = await call.hub.db.write(
        partial(send_scheduled_now, call.agent, call.path_int("message_id"))
    )
    call.hub.outbox.wake()
    return message


@hours_api.route(
    "PATCH",
    SCHEDULED,
    summary="Edit a scheduled reply before it leaves",
    access=Access.AGENT,
    tag="inbox",
    body=ScheduledEditIn,
    response=Message,
)
async def edit_reply(call: Call) -> dict[str, Any]:
    body: ScheduledEditIn = call.body
    return await call.hub.db.write(
        partial(edit_scheduled, call.agent, call.path_int("message_id"), body.text)
    )


@hours_api.route(
    "POST",
    SCHEDULED + "/cancel",
    summary="Cancel a scheduled reply; it is kept, unsent",
    access=Access.AGENT,
    tag="inbox",
    response=Message,
)
async def cancel_reply(call: Call) -> dict[str, Any]:
    return await call.hub.db.write(
        partial(cancel_scheduled, call.agent, call.path_int("message_id"))
    )
