"""For operators: is the process up, can it serve (database, schema), and its metrics."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from connectors.secret_check import bearer_token, same_secret
from connectors.settings import EnvSecret
from hub.api.framework import HUB_KEY
from hub.db.migrate import is_current
from hub.errors import NotFound, Unauthorized
from hub.metrics import read_stored_figures

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


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format; counts only, never names or message text.

    Only for whoever holds ``metrics.token_env``: the figures tell outsiders
    how busy the team is, and scraping costs database reads.
    """
    hub = request.app[HUB_KEY]
    check_scraper(request, hub.settings.metrics.token_env)
    now = hub.clock.now()
    hub.metrics.show_stored(await hub.db.read(lambda conn: read_stored_figures(now, conn)), now)
    return web.Response(
        body=hub.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def check_scraper(request: web.Request, token: EnvSecret | None) -> None:
    if token is None:
        raise NotFound("metrics are off: set metrics.token_env to serve them")
    if not same_secret(bearer_token(request.headers), token.reveal()):
        raise Unauthorized("metrics need the bearer token named by metrics.token_env")


def mount(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
