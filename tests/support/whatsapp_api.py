"""A small local Graph API for WhatsApp, and Meta's webhook posts signed as Meta signs them.

The server binds to port 0 and speaks the shapes of Meta's public Cloud API
documentation: ``POST /<version>/<phone number id>/messages`` (bearer token)
answers ``{"messaging_product", "contacts", "messages": [{"id": "wamid..."}]}`` or a
scripted Graph error (``{"error": {"message", "type", "code", "error_data",
"fbtrace_id"}}``), ``POST /<version>/<phone number id>/media`` (multipart:
``messaging_product``, ``type``, ``file``) takes a file and answers ``{"id": <media id>}``,
``GET /<version>/<phone number id>`` the number. The webhook
helpers build the JSON Meta POSTs for an incoming message and for a status, and
``X-Hub-Signature-256`` is computed independently of the hub's code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "EAAG-whatsapp-access-token-0123456789"
APP_SECRET = "whatsapp-app-secret-0123456789ab"
VERIFY_TOKEN = "whatsapp-verify-token"
WABA_ID = "102290129340398"
DISPLAY_NUMBER = "15550783881"
API_VERSION = "v21.0"


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Uploaded:
    """A file the hub uploaded to the media endpoint, as it arrived."""

    media_id: str
    type: str
    filename: str
    content_type: str
    data: bytes


def graph_error(status: int, code: int, message: str, details: str = "", **headers: str) -> Answer:
    """An error as the Graph API answers it."""
    error = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details or message},
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
    return Answer(status, {"error": error}, headers)


def too_many_requests() -> Answer:
    return graph_error(429, 130429, "(#130429) Rate limit hit", **{"Retry-After": "2"})


def reengagement_needed() -> Answer:
    return graph_error(
        400,
        131047,
        "(#131047) Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    )


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """Meta's X-Hub-Signature-256: sha256= and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_ids = itertools.count(1)


def new_wamid() -> str:
    return f"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0{next(_ids):06d}"


def webhook(value: dict[str, Any]) -> dict[str, Any]:
    """The envelope of every Cloud API webhook POST around one ``messages`` change."""
    metadata = {"display_phone_number": DISPLAY_NUMBER, "phone_number_id": PHONE_NUMBER_ID}
    change = {"value": {"messaging_product": "whatsapp", "metadata": metadata, **value}}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{**change, "field": "messages"}]}],
    }


def incoming(
    wa_id: str,
    kind: str,
    content: Any,
    at: datetime,
    *,
    name: str = "Lena Vogel",
    wamid: str | None = None,
) -> dict[str, Any]:
    """What Meta POSTs when ``wa_id`` (the number without ``+``) sends a message of type
    ``kind`` (text, image, location, reaction...) at ``at``."""
    message = {
        "from": wa_id,
        "id": wamid or new_wamid(),
        "timestamp": str(int(at.timestamp())),
        "type": kind,
        kind: content,
    }
    contacts = [{"profile": {"name": name}, "wa_id": wa_id}]
    return webhook({"contacts": contacts, "messages": [message]})


def incoming_text(
    wa_id: str, body: str, at: datetime, *, name: str = "Lena Vogel", wamid: str | None = None
) -> dict[str, Any]:
    return incoming(wa_id, "text", {"body": body}, at, name=name, wamid=wamid)


def status_update(
    wamid: str,
    wa_id: str,
    status: str,
    at: datetime,
    callback_data: str | None,
    error: tuple[int, str, str] | None = None,
) -> dict[str, Any]:
    """A status for a sent message: ``error`` as (code, title, details) for ``failed``."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": wa_id,
    }
    if callback_data is not None:
        entry["biz_opaque_callback_data"] = callback_data
    if error is not None:
        code, title, details = error
        entry["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/"
                "error-codes/",
            }
        ]
    return webhook({"statuses": [entry]})


def encoded(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class FakeGraphApi:
    """``async with FakeGraphApi() as api``: ``api.base_url`` for the channel's settings."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.errors: list[Answer | str | None] = []
        """Answers for the next messages calls, in order (``None``: the call succeeds; a
        string: a 200 page that is not JSON, as a proxy in the way may answer)."""
        self.number_reads = 0
        self.media: dict[str, tuple[bytes, str]] = {}
        self.downloads: list[str] = []
        self.uploads: list[Uploaded] = []
        self.upload_gate: asyncio.Event | None = None
        """When set, each media upload waits for it (a large file on a slow line)."""
        self.upload_arrived = asyncio.Event()
        app = web.Application(client_max_size=128 * 1024 * 1024)
        app.router.add_get("/whatsapp_business/attachments/{media}", self._media_file)
        app.router.add_post("/{version}/{number}/messages", self._messages)
        app.router.add_post("/{version}/{number}/media", self._upload)
        app.router.add_get("/{version}/{number}", self._number)
        self._server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> FakeGraphApi:
        await self._server.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._server.close()

    @property
    def base_url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    def add_media(self, data: bytes, mime_type: str) -> str:
        """Serve ``data`` as an uploaded customer file; its media id, as a message names it."""
        media_id = str(1_000_000_000 + len(self.media))
        self.media[media_id] = (data, mime_type)
        return media_id

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            answer = graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
            return web.json_response(answer.body, status=401)
        return None

    def _refusal(self, request: web.Request) -> web.Response | None:
        if (refused := self._unauthorized(request)) is not None:
            return refused
        if request.match_info["version"] != API_VERSION:
            return web.json_response(graph_error(400, 100, "Unknown version").body, status=400)
        if request.match_info["number"] != PHONE_NUMBER_ID:
            unknown = graph_error(400, 100, "Unsupported post request")
            return web.json_response(unknown.body, status=400)
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        if (refused := self._refusal(request)) is not None:
            return refused
        body = await request.json()
        answer = self.errors.pop(0) if self.errors else None
        if isinstance(answer, str):
            return web.Response(text=answer, content_type="text/html")
        if answer is not None:
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        wamid = new_wamid()
        self.sent.append({**body, "wamid": wamid})
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"].lstrip("+")}],
                "messages": [{"id": wamid}],
            }
        )

    async def _upload(self, request: web.Request) -> web.Response:
        """A file for a message: kept (and downloadable) under a new media id."""
        if (refused := self._refusal(request)) is not None:
            return refused
        form = await request.post()
        file = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(file, web.FileField):
            answer = graph_error(400, 100, "(#100) The parameter messaging_product is required")
            return web.json_response(answer.body, status=400)
        data = file.file.read()
        self.upload_arrived.set()
        if self.upload_gate is not None:
            await self.upload_gate.wait()
        media_id = self.add_media(data, file.content_type)
        self.uploads.append(
            Uploaded(media_id, str(form.get("type")), file.filename, file.content_type, data)
        )
        return web.json_response({"id": media_id})

    async def _number(self, request: web.Request) -> web.Response:
        """The phone number, or a media id's URL (the media endpoint shares the path)."""
        if request.match_info["number"] in self.media:
            return await self._media_info(request)
        if (refused := self._refusal(request)) is not None:
            return refused
        self.number_reads += 1
        return web.json_response(
            {
                "verified_name": "Shop Support",
                "display_phone_number": "+1 555-078-3881",
                "quality_rating": "GREEN",
                "id": PHONE_NUMBER_ID,
            }
        )

    async def _media_info(self, request: web.Request) -> web.Response:
        if (refused := self._unauthorized(request)) is not None:
            return refused
        media_id = request.match_info["number"]
        data, mime_type = self.media[media_id]
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.base_url}/whatsapp_business/attachments/{media_id}",
                "mime_type": mime_type,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": str(len(data)),
                "id": media_id,
            }
        )

    async def _media_file(self, request: web.Request) -> web.Response:
        if (refused := self._unauthorized(request)) is not None:
            return refused
        media_id = request.match_info["media"]
        self.downloads.append(media_id)
        data, mime_type = self.media[media_id]
        return web.Response(body=data, content_type=mime_type)
