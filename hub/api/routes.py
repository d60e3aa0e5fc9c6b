"""Every HTTP endpoint of the hub's API, and the OpenAPI document describing them."""

from __future__ import annotations

from aiohttp import web

from hub.api.admin import admin_api
from hub.api.agent_hours import agent_hours_api
from hub.api.canned import canned_api
from hub.api.escalation import escalation_api
from hub.api.framework import Api
from hub.api.health import mount as mount_health
from hub.api.hours import hours_api
from hub.api.inbox import inbox_api
from hub.api.live import mount as mount_live
from hub.api.notify import notify_api
from hub.api.openapi import openapi_document
from hub.api.previews import previews_api
from hub.api.security import security_api
from hub.api.session import session_api

api = Api()
for part in (
    session_api,
    security_api,
    inbox_api,
    admin_api,
    hours_api,
    escalation_api,
    agent_hours_api,
    previews_api,
    canned_api,
    notify_api,
):
    api.include(part)

EVENTS_DOC = {
    "get": {
        "summary": "Live events (WebSocket); ?after=ID replays what was missed since that id",
        "description": (
            "Frames are JSON. Events come as arrays of one or more events"
            " ({id, kind, conversation_id, at, data}), in id order; after the replay"
            ' comes {"kind": "ready", "last_id": N}; {"kind": "reset"} means'
            " too much was missed: reload."
        ),
        "tags": ["inbox"],
        "operationId": "events_socket",
        "parameters": [
            {"name": "after", "in": "query", "required": False, "schema": {"type": "integer"}}
        ],
        "security": [{"session": []}, {"bearer": []}],
        "responses": {"101": {"description": "switching to WebSocket"}},
    }
}


def mount(app: web.Application) -> None:
    api.mount(app)
    mount_live(app)
    mount_health(app)
    app.router.add_get("/api/openapi.json", openapi)


async def openapi(_request: web.Request) -> web.Response:
    document = openapi_document(api, "Omnichannel hub API", "1")
    document["paths"]["/api/events"] = EVENTS_DOC
    return web.json_response(document)
