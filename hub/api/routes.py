"""Every HTTP endpoint of the hub's API, and the OpenAPI document describing them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from connectors.route_docs import DescribesRoutes, Raw, RouteDoc
from hub.api.admin import admin_api
from hub.api.agent_hours import agent_hours_api
from hub.api.answers import Health
from hub.api.canned import canned_api
from hub.api.compose import compose_api
from hub.api.escalation import escalation_api
from hub.api.framework import HUB_KEY, Api
from hub.api.health import mount as mount_health
from hub.api.hours import hours_api
from hub.api.inbox import inbox_api
from hub.api.live import mount as mount_live
from hub.api.notify import notify_api
from hub.api.openapi import SECURITY_SCHEMES, openapi_document
from hub.api.previews import previews_api
from hub.api.privacy import privacy_api
from hub.api.reports import reports_api
from hub.api.satisfaction import satisfaction_api
from hub.api.search import search_api
from hub.api.security import security_api
from hub.api.session import session_api
from hub.api.tags import tags_api
from hub.api.uploads import uploads_api
from hub.package import package_version

TITLE = "Omnichannel hub API"
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
    tags_api,
    reports_api,
    privacy_api,
    satisfaction_api,
    search_api,
    compose_api,
    uploads_api,
):
    api.include(part)


BESIDE_THE_API = (
    RouteDoc(
        "GET",
        "/api/events",
        "events_socket",
        "Live events (WebSocket); ?after=ID replays what was missed since that id",
        "inbox",
        description=(
            "Frames are JSON. Events come as arrays of one or more events"
            " ({id, kind, conversation_id, at, data}), in id order; after the replay"
            ' comes {"kind": "ready", "last_id": N}; {"kind": "reset"} means'
            " too much was missed: reload."
        ),
        parameters=(
            {"name": "after", "in": "query", "required": False, "schema": {"type": "integer"}},
        ),
        statuses=(101,),
        errors=(401,),
        security=SECURITY_SCHEMES,
    ),
    RouteDoc(
        "GET",
        "/api/openapi.json",
        "openapi",
        "This document",
        "health",
        response=Raw("application/json", "the OpenAPI 3.1 document"),
    ),
    RouteDoc(
        "GET",
        "/time-zones.json",
        "time_zones",
        "The IANA time zones the hub accepts in calendars",
        "reference",
        response=list[str],
    ),
    RouteDoc("GET", "/healthz", "healthz", "The process is up", "health", response=Health),
    RouteDoc(
        "GET",
        "/readyz",
        "readyz",
        "The database answers and its schema is current (503 with the reason if not)",
        "health",
        response=Health,
        statuses=(200, 503),
    ),
    RouteDoc(
        "GET",
        "/metrics",
        "metrics",
        "Prometheus metrics (counts only); 404 while metrics.token_env is unset",
        "health",
        response=Raw("text/plain", "Prometheus text exposition format"),
        errors=(401, 404),
        security={
            "metrics_token": {
                "type": "http",
                "scheme": "bearer",
                "description": "the token in the environment variable metrics.token_env names",
            }
        },
    ),
)


DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document")
"""Written on the first request (the channels are the app's own), then served as written."""


def mount(app: web.Application) -> None:
    api.mount(app)
    mount_live(app)
    mount_health(app)
    app[DOCUMENT] = {}
    app.router.add_get("/api/openapi.json", openapi)


def beside_the_api(request: web.Request) -> Iterable[RouteDoc]:
    yield from BESIDE_THE_API
    for connector in request.app[HUB_KEY].all_connectors.values():
        if isinstance(connector, DescribesRoutes):
            yield from connector.route_docs()


async def openapi(request: web.Request) -> web.Response:
    document = request.app[DOCUMENT]
    if not document:
        document.update(openapi_document(api, beside_the_api(request), TITLE, package_version()))
    return web.json_response(document)
