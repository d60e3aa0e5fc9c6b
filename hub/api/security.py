"""Two-factor sign-in as agents set it up and admins govern it, and the console's warnings.

An agent enrols on their account page: ``setup`` offers a secret, ``confirm``
stores it once a code shows the app holds it and answers the recovery codes
(shown this once). Turning it off takes a code too, and counts against the
sign-in limits like any guess. Admins can require it for everyone and turn it
off for an agent who lost their phone and their codes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import Connection

from hub.api.answers_signin import Enrolment, RecoveryCodes, TeamSecurity
from hub.api.framework import Access, Api, Call
from hub.api.models import EnrolmentIn, SecurityPatch, TwoFactorOffIn
from hub.clients import client_key
from hub.db.database import Tx
from hub.demo_accounts import demo_passwords_in_use
from hub.errors import Conflict, NotFound, Unauthorized
from hub.signin import WRONG_CODE
from hub.signin_limits import reserve_attempt, take_back
from hub.team import get_agent
from hub.two_factor import (
    confirm_enrolment,
    has_two_factor,
    offer_enrolment,
    offered_secret,
    require_for_everyone,
    turn_off,
    two_factor_required,
    use_second_factor,
)

security_api = Api()
MINE = "/api/me/two-factor"


@security_api.route(
    "POST",
    MINE + "/setup",
    summary="Start setting up two-factor sign-in: a new secret, its QR code, an enrolment token",
    access=Access.AGENT,
    tag="session",
    before_two_factor=True,
    response=Enrolment,
)
async def setup(call: Call) -> dict[str, Any]:
    agent_id = call.agent.agent_id
    agent = await call.hub.db.read(partial(get_agent, agent_id=agent_id))
    if agent["two_factor"]:
        raise Conflict("two-factor sign-in is on already: turn it off first to start again")
    return offer_enrolment(call.hub.secret_key, agent_id, agent["email"], call.hub.clock.now())


@security_api.route(
    "POST",
    MINE,
    summary="Turn two-factor sign-in on with a first code; answers the recovery codes, once",
    access=Access.AGENT,
    tag="session",
    body=EnrolmentIn,
    status=201,
    before_two_factor=True,
    response=RecoveryCodes,
)
async def confirm(call: Call) -> dict[str, Any]:
    body: EnrolmentIn = call.body
    agent_id = call.agent.agent_id
    secret = offered_secret(call.hub.secret_key, agent_id, body.enrolment, call.hub.clock.now())
    codes = await call.hub.db.write(partial(confirm_enrolment, agent_id, secret, body.code))
    return {"recovery_codes": codes}


@security_api.route(
    "POST",
    MINE + "/off",
    summary="Turn my two-factor sign-in off (needs a current code or a recovery code)",
    access=Access.AGENT,
    tag="session",
    body=TwoFactorOffIn,
)
async def switch_off(call: Call) -> None:
    body: TwoFactorOffIn = call.body
    agent_id = call.agent.agent_id
    agent = await call.hub.db.read(partial(get_agent, agent_id=agent_id))
    if await call.hub.db.read(two_factor_required):
        raise Conflict("two-factor sign-in is required for everyone: it cannot be turned off")
    if not agent["two_factor"]:
        raise Conflict("two-factor sign-in is off already")
    client = client_key(call.hub.client_address(call.request))
    attempt = await call.hub.db.write(
        partial(reserve_attempt, call.hub.signin_limits, agent["email"], client)
    )

    def check_then_turn_off(tx: Tx) -> bool:
        if use_second_factor(agent_id, body.code, tx) is None:
            return False
        take_back(attempt, tx)
        turn_off(agent_id, agent_id, tx)
        return True

    if not await call.hub.db.write(check_then_turn_off):
        raise Unauthorized(WRONG_CODE)


@security_api.route(
    "DELETE",
    "/api/admin/agents/{agent_id:\\d+}/two-factor",
    summary="Turn an agent's two-factor sign-in off (lost phone and codes; audited)",
    access=Access.ADMIN,
    tag="admin",
)
async def reset_agent(call: Call) -> None:
    agent_id = call.path_int("agent_id")

    def reset(tx: Tx) -> None:
        get_agent(tx.conn, agent_id)
        if not has_two_factor(tx.conn, agent_id):
            raise NotFound(f"agent {agent_id} has no two-factor sign-in")
        turn_off(call.agent.agent_id, agent_id, tx)

    await call.hub.db.write(reset)


def security_json(conn: Connection) -> dict[str, Any]:
    return {
        "require_two_factor": two_factor_required(conn),
        "demo_passwords": demo_passwords_in_use(conn),
    }


@security_api.route(
    "GET",
    "/api/admin/security",
    summary="Whether two-factor sign-in is required, and demo accounts with their demo password",
    access=Access.ADMIN,
    tag="admin",
    response=TeamSecurity,
)
async def security(call: Call) -> dict[str, Any]:
    return await call.hub.db.read(security_json)


@security_api.route(
    "PATCH",
    "/api/admin/security",
    summary="Require two-factor sign-in for everyone, or stop requiring it (audited)",
    access=Access.ADMIN,
    tag="admin",
    body=SecurityPatch,
    response=TeamSecurity,
)
async def change_security(call: Call) -> dict[str, Any]:
    body: SecurityPatch = call.body
    await call.hub.db.write(
        partial(require_for_everyone, call.agent.agent_id, body.require_two_factor)
    )
    return await call.hub.db.read(security_json)
