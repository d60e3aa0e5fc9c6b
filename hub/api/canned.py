"""Canned responses: every agent reads them, admins add and remove them."""

from __future__ import annotations

from functools import partial
from typing import Any

from hub.api.answers import Canned, Deleted
from hub.api.framework import Access, Api, Call
from hub.api.models import CannedIn
from hub.canned import create_canned, delete_canned, list_canned

canned_api = Api()


@canned_api.route(
    "GET",
    "/api/canned-responses",
    summary="Canned responses agents can insert into a reply",
    access=Access.AGENT,
    tag="inbox",
    response=list[Canned],
)
async def canned_responses(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.read(list_canned)


@canned_api.route(
    "POST",
    "/api/admin/canned-responses",
    summary="Add a canned response",
    access=Access.ADMIN,
    tag="admin",
    body=CannedIn,
    status=201,
    response=Canned,
)
async def add_canned_response(call: Call) -> dict[str, Any]:
    body: CannedIn = call.body
    return await call.hub.db.write(
        partial(create_canned, call.agent.agent_id, body.title, body.text)
    )


@canned_api.route(
    "DELETE",
    "/api/admin/canned-responses/{canned_id:\\d+}",
    summary="Remove a canned response",
    access=Access.ADMIN,
    tag="admin",
    response=Deleted,
)
async def remove_canned_response(call: Call) -> dict[str, Any]:
    return await call.hub.db.write(
        partial(delete_canned, call.agent.agent_id, call.path_int("canned_id"))
    )
