"""Signing in and out: a cookie session for the browser, bearer tokens for scripts."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from aiohttp import web

from hub.api.framework import Access, Api, Call
from hub.api.models import LoginIn, MyStatusIn, present_fields
from hub.auth import SESSION_COOKIE, NewSession, close_session, open_session, verify_login
from hub.errors import TooManyRequests, Unauthorized
from hub.team import get_agent, update_agent

session_api = Api()


async def _sign_in(call: Call) -> NewSession:
    body: LoginIn = call.body
    client = call.request.remote or "unknown"
    if not call.hub.login_throttle.allow(client):
        raise TooManyRequests("too many sign-in attempts from this address: wait a minute")
    agent_id = await call.hub.db.read(partial(verify_login, body.email, body.password))
    if agent_id is None:
        raise Unauthorized("wrong email or password, or the account is deactivated")
    lifetime = timedelta(hours=call.hub.settings.auth.session_hours)
    return await call.hub.db.write(partial(open_session, agent_id, lifetime))


@session_api.route(
    "POST",
    "/api/login",
    summary="Sign in (browser): sets an HttpOnly session cookie",
    access=Access.PUBLIC,
    tag="session",
    body=LoginIn,
)
async def login(call: Call) -> web.StreamResponse:
    session = await _sign_in(call)
    agent = await call.hub.db.read(lambda conn: get_agent(conn, session.agent_id))
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


@session_api.route(
    "POST",
    "/api/tokens",
    summary="Get a bearer token for scripts (no cookie)",
    access=Access.PUBLIC,
    tag="session",
    body=LoginIn,
    status=201,
)
async def create_token(call: Call) -> dict[str, Any]:
    session = await _sign_in(call)
    return {"token": session.token, "agent_id": session.agent_id}


@session_api.route(
    "POST",
    "/api/logout",
    summary="End this session (cookie or bearer token)",
    access=Access.AGENT,
    tag="session",
)
async def logout(call: Call) -> web.StreamResponse:
    header = call.request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or call.request.cookies.get(SESSION_COOKIE, "")
    await call.hub.db.write(partial(close_session, token))
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@session_api.route(
    "GET",
    "/api/me",
    summary="Who am I",
    access=Access.AGENT,
    tag="session",
)
async def me(call: Call) -> dict[str, Any]:
    agent = await call.hub.db.read(lambda conn: get_agent(conn, call.agent.agent_id))
    return {**agent, "csrf_token": call.agent.csrf_token if call.agent.via_cookie else None}


@session_api.route(
    "PATCH",
    "/api/me/status",
    summary="Mark myself away (with a backup) or back",
    access=Access.AGENT,
    tag="session",
    body=MyStatusIn,
)
async def my_status(call: Call) -> dict[str, Any]:
    me_id = call.agent.agent_id
    changes = present_fields(call.body, nullable={"backup_id"})
    return await call.hub.db.write(partial(update_agent, me_id, me_id, changes))
