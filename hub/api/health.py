"""Health checks for orchestrators: is the process up, can it serve (database, schema)."""

from __future__ import annotations

import logging

from aiohttp import web

from hub.api.framework import HUB_KEY
from hub.db.migrate import is_current

log = logging.getLogger(__name__)


async def healthz(_request: web.Request) -> web.Response:
    """The process is up and answering."""
    return web.json_response({"status": "up"})


async def readyz(request: web.Request) -> web.Response:
    """The database answers and its schema is the one this hub expects."""
    hub = request.app[HUB_KEY]
    try:
        current = await is_current(hub.db)
    except Exception as error:
        log.warning("readiness check: database unreachable: %s", type(error).__name__)
        return web.json_response(
            {"status": "not ready", "reason": f"database unreachable: {type(error).__name__}"},
            status=503,
        )
    if not current:
        return web.json_response(
            {"status": "not ready", "reason": "database schema is not the current migration"},
            status=503,
        )
    return web.json_response({"status": "ready"})


def mount(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
