"""One access line per HTTP request, and the request's id in every line logged for it.

The line names the method, the route's pattern (``/api/conversations/{id}``:
never the concrete path with its ids, nor the query string, which may carry a
token), the status and the time taken. Bodies, cookies and headers are never
logged. The request id comes from the client's ``X-Request-ID`` when it is a
short, plain one (a proxy's), else it is made here; the response echoes it.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from hub.logs import REQUEST_ID
from hub.metrics import route_label

log = logging.getLogger("hub.access")

HEADER = "X-Request-ID"
REQUEST_KEY = web.RequestKey("request_id", str)
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""What a client's id may be: anything else could forge log lines or fill them."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_id(request: web.Request) -> str:
    offered = request.headers.get(HEADER, "")
    return offered if ACCEPTED_ID.fullmatch(offered) else secrets.token_hex(8)


@web.middleware
async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: the id is set before, and the line written after, all else."""
    request[REQUEST_KEY] = request_id(request)
    token = REQUEST_ID.set(request[REQUEST_KEY])
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        log_request(request, status, time.perf_counter() - started)
        REQUEST_ID.reset(token)


def log_request(request: web.Request, status: int, seconds: float) -> None:
    route, milliseconds = route_label(request), round(seconds * 1000, 1)
    log.info(
        "%s %s %d %.1f ms",
        request.method,
        route,
        status,
        milliseconds,
        extra={"method": request.method, "route": route, "status": status, "ms": milliseconds},
    )


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """On every response: streamed ones, sent before their handler returns, and the
    others, sent after the middleware is done (so the id is the request's, not the context's)."""
    if REQUEST_KEY in request:
        response.headers[HEADER] = request[REQUEST_KEY]


def trace_requests(app: web.Application) -> None:
    """Log each request of ``app`` and echo its id, as the outermost middleware."""
    app.middlewares.insert(0, access_log)
    app.on_response_prepare.append(echo_request_id)
