"""The Twilio SMS channel: texts in by Twilio's signed webhook, replies out by the Messages API.

Inbound, ``POST /twilio/<name>/messages`` (the number's "A message comes in"
webhook): 403 unless ``X-Twilio-Signature`` signs the form for the URL Twilio
called (``http.base_url`` and the path, or what a trusted proxy forwarded);
MMS media are fetched with the account's credentials (up to
``max_media_bytes``), the message is stored (a repeated ``MessageSid`` is a
duplicate), then Twilio hears an empty TwiML answer, so it sends no reply of its
own. STOP and its kin opt the customer out, START opts them in.

Outbound, one Messages API call per part (Twilio takes 1600 characters and
splits them into SMS segments itself), each with a ``StatusCallback`` to
``/twilio/<name>/status/<message id>``, whose receipts (delivered, failed with
the error code) land on the message.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import replace

import aiohttp
from aiohttp import web

from connectors.base import (
    Attachment,
    Connector,
    Delivery,
    HubPort,
    InboundMessage,
    OutboundMessage,
    PermanentError,
    TransientError,
)
from connectors.http_session import HttpSession
from connectors.phone import IDENTITY_KIND
from connectors.route_docs import Raw, RouteDoc
from connectors.text_parts import split_text
from connectors.twilio.errors import api_error
from connectors.twilio.payloads import inbound_of, report_of, signed_by_twilio
from connectors.twilio.settings import TwilioChannel

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
"""Twilio refuses a longer body (21617); it splits up to this into SMS segments itself."""
TIMEOUT = aiohttp.ClientTimeout(total=15)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class TwilioConnector(Connector):
    kind = "twilio"

    def __init__(self, settings: TwilioChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._token = settings.auth_token_env.reveal()
        self._http = HttpSession()

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND

    @property
    def messages_path(self) -> str:
        return f"/twilio/{self.name}/messages"

    def status_path(self, message_id: int | str) -> str:
        return f"/twilio/{self.name}/status/{message_id}"

    def routes(self) -> Iterable[web.RouteDef]:
        return [
            web.post(self.messages_path, self.receive),
            web.post(self.status_path("{message_id:\\d+}"), self.status),
        ]

    def route_docs(self) -> Iterable[RouteDoc]:
        signature = {"type": "apiKey", "in": "header", "name": SIGNATURE_HEADER}
        security = {f"channel_{self.name}_twilio_signature": signature}
        yield RouteDoc(
            "POST",
            self.messages_path,
            f"channel_{self.name}_messages",
            f"Texts to channel {self.name}'s Twilio number (its messaging webhook)",
            "channels",
            description="Twilio's form (MessageSid, From, Body, NumMedia, MediaUrl0...), "
            "signed with the Auth Token for this URL. Answered with empty TwiML once stored.",
            response=Raw("text/xml", "empty TwiML: Twilio sends no reply of its own"),
            errors=(403, 404),
            security=security,
        )
        yield RouteDoc(
            "POST",
            self.status_path("{message_id}"),
            f"channel_{self.name}_status",
            f"Twilio's status callbacks for replies sent on channel {self.name}",
            "channels",
            description="MessageStatus (sent, delivered, undelivered, failed with ErrorCode) "
            "for the reply the path names; the hub sets this URL on each message it sends.",
            parameters=(
                {
                    "name": "message_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer"},
                },
            ),
            statuses=(204,),
            errors=(403, 404),
            security=security,
        )

    def _api_credentials(self) -> str:
        """``user:password`` of the API calls: the API key when one is set, else the account."""
        key, secret = self.settings.api_key_sid, self.settings.api_key_secret_env
        if key is not None and secret is not None:
            return f"{key}:{secret.reveal()}"
        return f"{self.settings.account_sid}:{self._token}"

    @property
    def _credentials(self) -> str:
        """The API calls' credentials in words, for a refusal."""
        key = self.settings.api_key_sid
        return f"the API key {key} or its secret" if key else "the account SID or Auth Token"

    async def start(self) -> None:
        credentials = self._api_credentials().encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        # aiohttp drops Authorization on a redirect to another origin (media on a CDN).
        self._http.open(TIMEOUT, headers)

    async def stop(self) -> None:
        await self._http.close()

    def _api(self, path: str) -> str:
        base = self.settings.base_url.rstrip("/")
        return f"{base}/{API_VERSION}/Accounts/{self.settings.account_sid}{path}"

    # inbound

    async def _signed_form(self, request: web.Request) -> list[tuple[str, str]] | None:
        """The form's fields when Twilio signed them for the URL it called; else ``None``."""
        form = [(name, str(value)) for name, value in (await request.post()).items()]
        presented = request.headers.get(SIGNATURE_HEADER)
        urls = self.hub.request_urls(request)
        return form if signed_by_twilio(self._token, presented, urls, form) else None

    def _refused(self) -> web.Response:
        return web.json_response(
            {"error": f"missing or wrong {SIGNATURE_HEADER} for channel {self.name}"},
            status=403,
        )

    async def receive(self, request: web.Request) -> web.Response:
        form = await self._signed_form(request)
        if form is None:
            return self._refused()
        message = inbound_of(dict(form), self.name)
        if message is None:
            raw = "&".join(f"{name}=..." for name, _ in form).encode()
            await self.hub.quarantine(self.name, raw, "a Twilio webhook without MessageSid/From")
        else:
            await self.hub.ingest(await self._with_media(message))
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def status(self, request: web.Request) -> web.Response:
        form = await self._signed_form(request)
        if form is None:
            return self._refused()
        report = report_of(dict(form), int(request.match_info["message_id"]))
        if report is not None and not await self.hub.delivery_report(self.name, report):
            log.warning("twilio %s: a status callback for a message not sent here", self.name)
        return web.Response(status=204)

    async def _with_media(self, message: InboundMessage) -> InboundMessage:
        """MMS media fetched with the account's credentials, each up to ``max_media_bytes``;
        those larger, failing, or not on the API server (never sent our credentials) listed."""
        listed = message.meta.get("media", [])
        attachments = [
            await self._fetched(item["url"], attachment)
            for item, attachment in zip(listed, message.attachments, strict=True)
        ]
        return replace(message, attachments=tuple(attachments))

    async def _fetched(self, url: str, attachment: Attachment) -> Attachment:
        if not url.startswith(self.settings.base_url.rstrip("/") + "/"):
            return attachment
        limit = self.settings.max_media_bytes
        try:
            async with self._http.client.get(url) as answer:
                if answer.status != 200:
                    raise TransientError(f"HTTP {answer.status}")
                data = await answer.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError, TransientError) as error:
            log.warning("twilio %s: media %s not fetched: %s", self.name, attachment.name, error)
            return attachment
        if len(data) > limit:
            return replace(attachment, size=answer.content_length or len(data))
        return replace(attachment, size=len(data), data=data)

    # outbound

    async def send(self, message: OutboundMessage) -> Delivery:
        """Send the parts not yet delivered; a failure carries the parts sent so far."""
        parts = split_text(message.text, MAX_BODY_CHARS)
        if not parts:
            raise PermanentError("an empty message cannot be sent as SMS")
        delivered = message.delivered
        for index in range(delivered.parts_sent, len(parts)):
            try:
                sid = await self._create(message, parts[index])
            except (TransientError, PermanentError) as failure:
                failure.partial = delivered
                raise
            delivered = Delivery(delivered.external_id or sid, index + 1)
        return delivered

    async def _create(self, message: OutboundMessage, body: str) -> str:
        """One Messages API call; the new message's SID."""
        form = {
            "To": message.to.address,
            "Body": body,
            "StatusCallback": self.hub.public_url + self.status_path(message.message_id),
        }
        if self.settings.from_number:
            form["From"] = self.settings.from_number
        if self.settings.messaging_service_sid:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        try:
            async with self._http.client.post(self._api("/Messages.json"), data=form) as answer:
                text = await answer.text()
                if answer.status >= 300:
                    raise api_error(
                        answer.status, text, answer.headers.get("Retry-After"), self._credentials
                    )
                created = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"Twilio unreachable: {type(error).__name__}") from error
        return str(created.get("sid") or "")

    async def test_connection(self) -> str:
        try:
            async with self._http.client.get(self._api(".json")) as answer:
                text = await answer.text()
                if answer.status >= 300:
                    raise api_error(
                        answer.status, text, answer.headers.get("Retry-After"), self._credentials
                    )
                account = await answer.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"Twilio unreachable: {type(error).__name__}") from error
        sender = self.settings.from_number or self.settings.messaging_service_sid
        name, state = account.get("friendly_name"), account.get("status")
        return f"account {name!r} {state}; replies from {sender}"
