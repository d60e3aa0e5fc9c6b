"""The inbox page and its static files, under a strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
FILES = {"inbox.js", "inbox.css"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


async def inbox(_request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "inbox.html", headers=PAGE_HEADERS)


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers=PAGE_HEADERS)


def mount(app: web.Application) -> None:
    app.router.add_get("/", inbox)
    app.router.add_get("/static/{name}", static)
