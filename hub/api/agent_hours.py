"""Agents' own working hours and absences: admins edit anyone's, each agent their own.

The same handlers serve both: under ``/api/admin/agents/{agent_id}`` the agent
is the one in the path (admins only), under ``/api/me`` it is the caller.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from hub.absences import (
    AbsenceRequest,
    add_absence,
    agent_hours_json,
    list_absences,
    remove_absence,
    set_agent_hours,
)
from hub.api.answers import Absence, AgentHours
from hub.api.framework import Access, Api, Call, Handler
from hub.api.models import AbsenceIn, HoursIn

agent_hours_api = Api()
OF_AGENT = "/api/admin/agents/{agent_id:\\d+}"
MINE = "/api/me"
ABSENCE = "/absences/{absence_id:\\d+}"


def subject(call: Call) -> int:
    """Whose hours: the agent in the path (admin routes), else the caller."""
    if "agent_id" in call.request.match_info:
        return call.path_int("agent_id")
    return call.agent.agent_id


async def hours(call: Call) -> dict[str, Any]:
    agent_id = subject(call)
    return await call.hub.db.read(lambda conn: agent_hours_json(conn, agent_id))


async def set_hours(call: Call) -> dict[str, Any]:
    body: HoursIn = call.body
    return await write_hours(call, body)


async def remove_hours(call: Call) -> dict[str, Any]:
    return await write_hours(call, HoursIn(hours=None))


async def write_hours(call: Call, body: HoursIn) -> dict[str, Any]:
    result = await call.hub.db.write(
        partial(set_agent_hours, call.agent.agent_id, subject(call), body.hours)
    )
    call.hub.handover.wake()
    return result


async def absences(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.read(partial(list_absences, subject(call), call.hub.clock.now()))


async def new_absence(call: Call) -> dict[str, Any]:
    body: AbsenceIn = call.body
    request = AbsenceRequest(**body.checked().model_dump())
    result = await call.hub.db.write(
        partial(add_absence, call.agent.agent_id, subject(call), request)
    )
    call.hub.handover.wake()
    return result


async def drop_absence(call: Call) -> None:
    absence_id = call.path_int("absence_id")
    await call.hub.db.write(partial(remove_absence, call.agent.agent_id, subject(call), absence_id))
    call.hub.handover.wake()


ENDPOINTS: list[tuple[str, str, Handler, str, dict[str, Any]]] = [
    (
        "GET",
        "/hours",
        hours,
        "working hours (null: none set, always working)",
        {"response": AgentHours},
    ),
    (
        "PUT",
        "/hours",
        set_hours,
        "set working hours; open conversations are routed again",
        {"body": HoursIn, "response": AgentHours},
    ),
    (
        "DELETE",
        "/hours",
        remove_hours,
        "remove working hours (always working)",
        {"response": AgentHours},
    ),
    (
        "GET",
        "/absences",
        absences,
        "absences that have not ended yet",
        {"response": list[Absence]},
    ),
    (
        "POST",
        "/absences",
        new_absence,
        "add an absence (dates in the hours' zone, or times; none: sick today)",
        {"body": AbsenceIn, "status": 201, "response": Absence},
    ),
    (
        "DELETE",
        ABSENCE,
        drop_absence,
        "remove an absence; conversations handed over come back",
        {},
    ),
]

for method, tail, handler, summary, extra in ENDPOINTS:
    agent_hours_api.route(
        method,
        OF_AGENT + tail,
        summary=f"An agent's {summary}",
        access=Access.ADMIN,
        tag="admin",
        operation_id=f"agent_{handler.__name__}",
        **extra,
    )(handler)
    agent_hours_api.route(
        method,
        MINE + tail,
        summary=f"My {summary}",
        access=Access.AGENT,
        tag="session",
        operation_id=f"my_{handler.__name__}",
        **extra,
    )(handler)
