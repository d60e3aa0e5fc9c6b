"""Signing in and out: a cookie session for the browser, bearer tokens for scripts.

With two-factor sign-in on, ``POST /api/login`` (or ``/api/tokens``) answers a
right password with ``{"two_factor": "required", "challenge": ...}`` and no
session; the session (or token) comes from ``POST /api/login/two-factor`` (or
``/api/tokens/two-factor``) with that challenge and a code.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import Connection

from hub.api.answers import Agent, Me
from hub.api.answers_signin import BearerToken, SignedIn, TwoFactorChallenge
from hub.api.framework import Access, Api, Call, presented_token
from hub.api.models import CodeIn, LoginIn, MyStatusIn, present_fields
from hub.auth import SESSION_COOKIE, NewSession, close_session
from hub.signin import Challenge, sign_in_with_code, sign_in_with_password
from hub.team import get_agent, update_agent
from hub.two_factor import two_factor_required

session_api = Api()


async def _password_step(call: Call) -> NewSession | Challenge:
    body: LoginIn = call.body
    client = call.hub.client_address(call.request)
    return await sign_in_with_password(call.hub, body.email, body.password, client)


async def _code_step(call: Call) -> NewSession:
    body: CodeIn = call.body
    client = call.hub.client_address(call.request)
    return await sign_in_with_code(call.hub, body.challenge, body.code, client)


def challenge_json(challenge: Challenge) -> dict[str, Any]:
    return {"two_factor": "required", "challenge": challenge.token}


def me_json(conn: Connection, agent_id: int) -> dict[str, Any]:
    """The agent, and whether they must set up two-factor sign-in before anything else."""
    agent = get_agent(conn, agent_id)
    must_enrol = not agent["two_factor"] and two_factor_required(conn)
    return {**agent, "must_enrol_two_factor": must_enrol}


async def cookie_session(call: Call, session: NewSession) -> web.StreamResponse:
    agent = await call.hub.db.read(partial(me_json, agent_id=session.agent_id))
    response = web.json_response({"agent": agent, "csrf_token": session.csrf_token})
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        httponly=True,
        samesite="Strict",
        secure=call.hub.settings.http.base_url.startswith("https://"),
        max_age=int(call.hub.settings.auth.session_hours * 3600),
        path="/",
    )
    return response


def token_json(session: NewSession) -> dict[str, Any]:
    return {"token": session.token, "agent_id": session.agent_id}


@session_api.route(
    "POST",
    "/api/login",
    summary="Sign in (browser): sets an HttpOnly session cookie, or asks for a two-factor code",
    access=Access.PUBLIC,
    tag="session",
    body=LoginIn,
    response=SignedIn | TwoFactorChallenge,
)
async def login(call: Call) -> web.StreamResponse | dict[str, Any]:
    outcome = await _password_step(call)
    if isinstance(outcome, Challenge):
        return challenge_json(outcome)
    return await cookie_session(call, outcome)


@session_api.route(
    "POST",
    "/api/login/two-factor",
    summary="Second step of signing in: the challenge and a TOTP or recovery code",
    access=Access.PUBLIC,
    tag="session",
    body=CodeIn,
    response=SignedIn,
)
async def login_code(call: Call) -> web.StreamResponse:
    return await cookie_session(call, await _code_step(call))


@session_api.route(
    "POST",
    "/api/tokens",
    summary="Get a bearer token for scripts (no cookie), or a two-factor challenge (200)",
    access=Access.PUBLIC,
    tag="session",
    body=LoginIn,
    status=201,
    response=BearerToken | TwoFactorChallenge,
)
async def create_token(call: Call) -> web.StreamResponse | dict[str, Any]:
    outcome = await _password_step(call)
    if isinstance(outcome, Challenge):
        return web.json_response(challenge_json(outcome))
    return token_json(outcome)


@session_api.route(
    "POST",
    "/api/tokens/two-factor",
    summary="Second step of getting a bearer token: the challenge and a code",
    access=Access.PUBLIC,
    tag="session",
    body=CodeIn,
    status=201,
    response=BearerToken,
)
async def create_token_with_code(call: Call) -> dict[str, Any]:
    return token_json(await _code_step(call))


@session_api.route(
    "POST",
    "/api/logout",
    summary="End this session (cookie or bearer token); its live-event sockets close",
    access=Access.AGENT,
    tag="session",
    before_two_factor=True,
)
async def logout(call: Call) -> web.StreamResponse:
    token, _ = presented_token(call.request)
    await call.hub.db.write(partial(close_session, token or ""))
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@session_api.route(
    "GET",
    "/api/me",
    summary="Who am I (and must I set up two-factor sign-in first)",
    access=Access.AGENT,
    tag="session",
    before_two_factor=True,
    response=Me,
)
async def me(call: Call) -> dict[str, Any]:
    agent = await call.hub.db.read(partial(me_json, agent_id=call.agent.agent_id))
    return {**agent, "csrf_token": call.agent.csrf_token if call.agent.via_cookie else None}


@session_api.route(
    "PATCH",
    "/api/me/status",
    summary="Mark myself away (with a backup) or back",
    access=Access.AGENT,
    tag="session",
    body=MyStatusIn,
    response=Agent,
)
async def my_status(call: Call) -> dict[str, Any]:
    me_id = call.agent.agent_id
    changes = present_fields(call.body, nullable={"backup_id"})
    return await call.hub.db.write(partial(update_agent, me_id, me_id, changes))
