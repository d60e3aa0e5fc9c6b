"""A small local Twilio REST API, and Twilio's webhook forms signed as Twilio signs them.

The server binds to port 0 and speaks the shapes of Twilio's public documentation:
``POST /2010-04-01/Accounts/<sid>/Messages.json`` (basic auth: account SID and Auth
Token) answers the Message resource (``sid``, ``status: queued``...) or a scripted
error (``{"code", "message", "more_info", "status"}``), ``GET .../Accounts/<sid>.json``
the account, and media under ``.../Messages/<MM...>/Media/<ME...>``. The webhook
helpers build the forms Twilio POSTs for an incoming SMS/MMS and for a status
callback, with ``X-Twilio-Signature`` computed independently of the hub's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789abcd"
API_KEY_SID = "SK" + "fedcba9876543210" * 2
API_KEY_SECRET = "twilio-api-key-secret-0123456789"
HUB_NUMBER = "+14155550100"
API_VERSION = "2010-04-01"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def twilio_error(status: int, code: int, message: str, **headers: str) -> Answer:
    """An error as the REST API answers it."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return Answer(
        status,
        {"code": code, "message": message, "more_info": more_info, "status": status},
        headers,
    )


def too_many_requests() -> Answer:
    return twilio_error(429, 20429, "Too Many Requests", **{"Retry-After": "2"})


def unsubscribed() -> Answer:
    return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1 over the URL and the sorted fields, base64."""
    data = url
    for name in sorted(form):
        data += name + form[name]
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


_sids = itertools.count(1)


def new_sid(prefix: str) -> str:
    return f"{prefix}{next(_sids):032x}"


def incoming_sms(sender: str, body: str, *, sid: str | None = None) -> dict[str, str]:
    """The form Twilio POSTs to a number's messaging webhook for an incoming SMS."""
    sid = sid or new_sid("SM")
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "SAN FRANCISCO",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "DE",
        "To": HUB_NUMBER,
        "ToZip": "94105",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "ApiVersion": API_VERSION,
    }


def incoming_mms(sender: str, body: str, media: list[tuple[str, str]]) -> dict[str, str]:
    """An MMS: ``media`` as (URL, content type) pairs, the URLs on the API server."""
    sid = new_sid("MM")
    form = {**incoming_sms(sender, body, sid=sid), "NumMedia": str(len(media))}
    for index, (url, content_type) in enumerate(media):
        form[f"MediaUrl{index}"] = url
        form[f"MediaContentType{index}"] = content_type
    return form


def status_callback(
    sid: str, to: str, status: str, error_code: str | None = None
) -> dict[str, str]:
    """The form Twilio POSTs to a message's StatusCallback."""
    form = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": HUB_NUMBER,
        "ApiVersion": API_VERSION,
    }
    if error_code is not None:
        form["ErrorCode"] = error_code
    return form


class FakeTwilioApi:
    """``async with FakeTwilioApi() as api``: ``api.base_url`` for the channel's settings."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.errors: list[Answer] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.media_fetches: list[str] = []
        self.redirects: dict[str, str] = {}
        self.cdn_authorizations: list[str | None] = []
        """The Authorization header of each request to the CDN: Twilio's credentials must
        never reach it."""
        self.api_users: list[str] = []
        """Who each authorized API request named (the account SID, or an API key's SID)."""
        cdn = web.Application()
        cdn.router.add_get("/{name}", self._cdn_file)
        self._cdn = TestServer(cdn, host="127.0.0.1")
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{base}/Messages.json", self._create)
        app.router.add_get(f"{base}.json", self._account)
        app.router.add_get(f"{base}/Messages/{{message}}/Media/{{media}}", self._media)
        self._server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> FakeTwilioApi:
        await self._server.start_server()
        await self._cdn.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._cdn.close()
        await self._server.close()

    @property
    def base_url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    def add_media(self, data: bytes, content_type: str, *, on_cdn: bool = False) -> str:
        """Serve ``data`` as one of an MMS's media; its URL, as MediaUrl<n> carries it.

        ``on_cdn``: the API answers with a redirect to another origin, as Twilio's media
        URLs redirect to their file store."""
        path = f"/{API_VERSION}/Accounts/{ACCOUNT_SID}/Messages/{new_sid('MM')}/Media/"
        path += new_sid("ME")
        stored = f"/{new_sid('ME')}" if on_cdn else path
        if on_cdn:
            self.redirects[path] = str(self._cdn.make_url(stored))
        self.media[stored] = (data, content_type)
        return self.base_url + path

    def _authorized(self, request: web.Request) -> bool:
        """Basic auth with the account's SID and Auth Token, or with an API key and its secret,
        as Twilio takes either."""
        for user, password in ((ACCOUNT_SID, AUTH_TOKEN), (API_KEY_SID, API_KEY_SECRET)):
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            if request.headers.get("Authorization") == f"Basic {expected}":
                self.api_users.append(user)
                return request.match_info["account"] == ACCOUNT_SID
        return False

    def _refused(self) -> web.Response:
        answer = twilio_error(401, 20003, "Authenticate")
        return web.json_response(answer.body, status=401)

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refused()
        form = {name: str(value) for name, value in (await request.post()).items()}
        if self.errors:
            answer = self.errors.pop(0)
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        sid = new_sid("SM")
        self.sent.append({**form, "sid": sid})
        return web.json_response(self._message(sid, form), status=201)

    def _message(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{ACCOUNT_SID}/Messages/{sid}"
        return {
            "account_sid": ACCOUNT_SID,
            "api_version": API_VERSION,
            "body": form.get("Body"),
            "date_created": "Mon, 02 Mar 2026 09:00:00 +0000",
            "date_sent": None,
            "date_updated": "Mon, 02 Mar 2026 09:00:00 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form.get("To"),
            "uri": f"{uri}.json",
        }

    async def _account(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refused()
        return web.json_response(
            {
                "sid": ACCOUNT_SID,
                "friendly_name": "Shop support",
                "status": "active",
                "type": "Full",
            }
        )

    async def _media(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._refused()
        self.media_fetches.append(request.path)
        if request.path in self.redirects:
            raise web.HTTPTemporaryRedirect(self.redirects[request.path])
        data, content_type = self.media[request.path]
        return web.Response(body=data, content_type=content_type)

    async def _cdn_file(self, request: web.Request) -> web.Response:
        self.cdn_authorizations.append(request.headers.get("Authorization"))
        data, content_type = self.media[request.path]
        return web.Response(body=data, content_type=content_type)
