"""The inbox and admin console pages and their static files, under a strict CSP."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import available_timezones

from aiohttp import web

from hub.api.framework import HUB_KEY, Access, TwoFactorRequired, authenticate
from hub.errors import Forbidden, Unauthorized

STATIC = Path(__file__).parent / "static"
# Region zones and UTC: not the aliases ("GB", "EST5EDT") nor "localtime", which the hub also takes.
TIME_ZONES = sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")
FAVICON = "favicon.svg"
INBOX_MODULES = {
    "inbox-core.js",
    "inbox-signin.js",
    "inbox-icons.js",
    "inbox-panel.js",
    "inbox-body.js",
    "inbox-canned.js",
    "inbox-keys.js",
    "inbox-trust.js",
    "inbox-alerts.js",
    "inbox-tags.js",
    "inbox-satisfaction.js",
    "inbox-receipts.js",
    "inbox-search.js",
    "inbox-sms.js",
    "inbox-window.js",
    "inbox-reactions.js",
    "inbox-attach.js",
}
FILES = {
    "api.js",
    "dates.js",
    "base.css",
    "inbox.js",
    "inbox.css",
    "admin.js",
    "admin.css",
    "account.js",
    "account.css",
    "account-notify.js",
    "account-hours.js",
    "calendar-editor.js",
    "calendar-editor.css",
    "hours-absences.js",
    "tag-chip.js",
    "tags.css",
    "admin-tags.js",
    "reports.js",
    "reports.css",
    "chart.umd.min.js",
    "customer-privacy.js",
    "satisfaction.js",
    "satisfaction.css",
    FAVICON,
    *INBOX_MODULES,
}
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


async def account(_request: web.Request) -> web.StreamResponse:
    """The agent's own account page: two-factor sign-in (its script asks who is signed in)."""
    return web.FileResponse(STATIC / "account.html", headers=PAGE_HEADERS)


async def reports(_request: web.Request) -> web.StreamResponse:
    """Reports for admins (everyone's) and agents (their own); its script asks who is signed in."""
    return web.FileResponse(STATIC / "reports.html", headers=PAGE_HEADERS)


SIGN_IN_FOR_ADMIN = "/?next=/admin"
ACCOUNT = "/account"
ADMINS_ONLY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Admins only</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/base.css">
<link rel="stylesheet" href="/static/admin.css"></head>
<body><main class="forbidden"><h1>Admins only</h1>
<p>Only admins may open the admin console.</p><p><a href="/">Back to the inbox</a></p>
</main></body></html>
"""


async def admin(request: web.Request) -> web.StreamResponse:
    """The console for admins; anyone else is sent to sign in, or refused."""
    try:
        await authenticate(request, request.app[HUB_KEY], Access.ADMIN)
    except Unauthorized:
        raise web.HTTPSeeOther(SIGN_IN_FOR_ADMIN) from None
    except TwoFactorRequired:
        raise web.HTTPSeeOther(ACCOUNT) from None
    except Forbidden:
        return web.Response(
            status=403, text=ADMINS_ONLY, content_type="text/html", headers=PAGE_HEADERS
        )
    return web.FileResponse(STATIC / "admin.html", headers=PAGE_HEADERS)


async def satisfaction(_request: web.Request) -> web.StreamResponse:
    """The customer's answer page behind a satisfaction link (its script reads the token)."""
    return web.FileResponse(STATIC / "satisfaction.html", headers=PAGE_HEADERS)


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in FILES:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers=PAGE_HEADERS)


async def favicon(_request: web.Request) -> web.StreamResponse:
    """For browsers and tools that ask for /favicon.ico whatever the page links to."""
    return web.FileResponse(STATIC / FAVICON, headers={"Cache-Control": "max-age=86400"})


async def time_zones(_request: web.Request) -> web.StreamResponse:
    """The IANA zones the hub accepts, for the calendar editor's list to choose from."""
    return web.json_response(TIME_ZONES, headers={"Cache-Control": "max-age=86400"})


def mount(app: web.Application) -> None:
    app.router.add_get("/", inbox)
    app.router.add_get("/admin", admin)
    app.router.add_get(ACCOUNT, account)
    app.router.add_get("/reports", reports)
    app.router.add_get("/satisfaction/{token}", satisfaction)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/time-zones.json", time_zones)
