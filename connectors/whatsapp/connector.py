"""The WhatsApp channel: messages in by Meta's signed webhook, replies out by the Cloud API.

``GET /whatsapp/<name>/webhook`` is the verification handshake Meta makes when the
webhook URL is set (``hub.mode=subscribe``, the verify token, ``hub.challenge``
echoed). ``POST`` there carries messages and statuses: 401 without
``X-Hub-Signature-256``, 403 when it does not sign the raw body with the app
secret, and nothing stored either way; else each message is stored (a repeated
``wamid`` is a duplicate) and each status recorded as a receipt, then 200.

Outbound, one ``POST {base_url}/{api_version}/{phone_number_id}/messages`` per part
of 4096 characters, naming our message id as ``biz_opaque_callback_data`` so its
statuses find it. Outside the 24-hour customer-service window (from the
customer's number's last message on the channel, in any conversation:
``OutboundMessage.last_inbound_at``, ``routing.service_window``) no free-form message
is sent: the re-engagement template goes instead, or the reply fails with that reason.
Files go as messages of their own, each uploaded first (``media_out.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

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
from connectors.media import FileRefusal
from connectors.phone import IDENTITY_KIND
from connectors.route_docs import Raw, RouteDoc
from connectors.secret_check import same_secret
from connectors.whatsapp.errors import api_error
from connectors.whatsapp.media_out import (
    Step,
    file_refusal,
    media_content,
    steps_of,
    text_content,
    upload,
)
from connectors.whatsapp.payloads import Unreadable, received, signed_by_meta
from connectors.whatsapp.settings import ReengagementTemplate, WhatsappChannel
from routing.service_window import service_window

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMEOUT = aiohttp.ClientTimeout(total=15)
UNREADABLE = "a WhatsApp webhook of a shape the hub does not read"
MEDIA_HOST_SUFFIX = ".fbsbx.com"
"""Where the media endpoint's URLs point (lookaside.fbsbx.com): they need the token too."""


class WhatsappConnector(Connector):
    kind = "whatsapp"

    def __init__(self, settings: WhatsappChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._app_secret = settings.app_secret_env.reveal()
        self._verify_token = settings.verify_token_env.reveal()
        self._http = HttpSession()

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND

    @property
    def webhook_path(self) -> str:
        return f"/whatsapp/{self.name}/webhook"

    def routes(self) -> Iterable[web.RouteDef]:
        return [
            web.get(self.webhook_path, self.verify, allow_head=False),
            web.post(self.webhook_path, self.receive),
        ]

    def route_docs(self) -> Iterable[RouteDoc]:
        yield RouteDoc(
            "GET",
            self.webhook_path,
            f"channel_{self.name}_whatsapp_verify",
            f"Meta's verification of channel {self.name}'s webhook URL",
            "channels",
            description="hub.mode=subscribe with the channel's verify token: hub.challenge is "
            "echoed; anything else is refused.",
            parameters=tuple(
                {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
                for name in ("hub.mode", "hub.verify_token", "hub.challenge")
            ),
            response=Raw("text/plain", "hub.challenge, as Meta sent it"),
            errors=(403,),
        )
        signature = {"type": "apiKey", "in": "header", "name": SIGNATURE_HEADER}
        yield RouteDoc(
            "POST",
            self.webhook_path,
            f"channel_{self.name}_whatsapp_events",
            f"Messages and statuses for channel {self.name}'s WhatsApp number",
            "channels",
            description="Meta's webhook JSON (object whatsapp_business_account, field messages), "
            "signed with the app secret over the raw body. Answered once stored.",
            response=Raw("text/plain", "empty: stored"),
            errors=(401, 403, 404),
            security={f"channel_{self.name}_whatsapp_signature": signature},
        )

    async def start(self) -> None:
        token = self.settings.access_token_env.reveal()
        headers = {"Authorization": f"Bearer {token}"}
        self._http.open(TIMEOUT, headers)

    async def stop(self) -> None:
        await self._http.close()

    def _api_root(self, path: str) -> str:
        return f"{self.settings.base_url.rstrip('/')}/{self.settings.api_version}{path}"

    def _api(self, path: str = "") -> str:
        return self._api_root(f"/{self.settings.phone_number_id}{path}")

    # inbound

    async def verify(self, request: web.Request) -> web.Response:
        """Meta's handshake: the challenge back when the verify token is ours."""
        query = request.query
        token_matches = same_secret(query.get("hub.verify_token"), self._verify_token)
        if query.get("hub.mode") == "subscribe" and token_matches:
            return web.Response(text=query.get("hub.challenge", ""))
        return web.json_response(
            {"error": f"wrong hub.mode or hub.verify_token for channel {self.name}"}, status=403
        )

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        presented = request.headers.get(SIGNATURE_HEADER)
        if presented is None:
            return self._refused("missing", 401)
        if not signed_by_meta(self._app_secret, presented, body):
            return self._refused("wrong", 403)
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict):
            await self.hub.quarantine(self.name, body, "a WhatsApp webhook that is not JSON")
            return web.Response()
        try:
            found = received(payload, self.name)
        except Unreadable:
            await self.hub.quarantine(self.name, body, UNREADABLE)
            return web.Response()
        for message in found.messages:
            await self.hub.ingest(await self._with_media(message))
        for report in found.reports:
            if not await self.hub.delivery_report(self.name, report):
                log.warning("whatsapp %s: a status for a message not sent here", self.name)
        return web.Response()

    async def _with_media(self, message: InboundMessage) -> InboundMessage:
        """The file of a media message, fetched through the media endpoint with the token,
        up to ``max_media_bytes``; one larger, failing, or elsewhere than Meta's is listed."""
        media_id = message.meta.get("media_id")
        if not media_id or not message.attachments:
            return message
        [listed] = message.attachments
        try:
            info = await self._call("GET", self._api_root(f"/{media_id}"))
            attachment = await self._downloaded(info, listed)
        except (TransientError, PermanentError) as error:
            log.warning("whatsapp %s: media not fetched: %s", self.name, error.reason)
            return message
        return replace(message, attachments=(attachment,))

    async def _downloaded(self, info: Mapping[str, Any], listed: Attachment) -> Attachment:
        url, limit = str(info.get("url") or ""), self.settings.max_media_bytes
        declared = int(size) if (size := str(info.get("file_size") or "0")).isdigit() else 0
        if declared > limit or not self._media_host(url):
            return replace(listed, size=declared)
        try:
            async with self._http.client.get(url) as answer:
                if answer.status != 200:
                    raise TransientError(f"media download answered {answer.status}")
                data = await answer.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(type(error).__name__) from error
        if len(data) > limit:
            return replace(listed, size=declared or len(data))
        return replace(listed, size=len(data), data=data)

    def _media_host(self, url: str) -> bool:
        """Whether the token may go to ``url``: Meta's media store, or the API server itself."""
        host = urlsplit(url).hostname or ""
        on_api = url.startswith(self.settings.base_url.rstrip("/") + "/")
        return on_api or (url.startswith("https://") and host.endswith(MEDIA_HOST_SUFFIX))

    def _refused(self, how: str, status: int) -> web.Response:
        return web.json_response(
            {"error": f"{how} {SIGNATURE_HEADER} for channel {self.name}"}, status=status
        )

    # outbound

    async def send(self, message: OutboundMessage) -> Delivery:
        """Free-form parts inside the customer-service window, else the template."""
        window = service_window(message.last_inbound_at, self.hub.now())
        if not window.open and not message.delivered.parts_sent:
            return await self._send_template(message, window.closes_at)
        for file in message.attachments:
            if (refusal := file_refusal(file)) is not None:
                raise PermanentError(f"{file.name}: {refusal.reason}")
        steps = steps_of(message.text, message.attachments)
        if not steps:
            raise PermanentError("an empty message cannot be sent on WhatsApp")
        delivered = message.delivered
        for index in range(delivered.parts_sent, len(steps)):
            try:
                delivered, content = await self._content(message, steps[index], delivered)
                wamid = await self._post(message, content)
            except (TransientError, PermanentError) as failure:
                failure.partial = delivered
                raise
            delivered = replace(
                delivered, external_id=delivered.external_id or wamid, parts_sent=index + 1
            )
        return delivered

    async def _content(
        self, message: OutboundMessage, step: Step, delivered: Delivery
    ) -> tuple[Delivery, dict[str, Any]]:
        """A step's message; a file not yet on WhatsApp is uploaded first (and kept)."""
        if step.file is None:
            return delivered, text_content(step.text or "")
        file = message.attachments[step.file]
        if step.file < len(delivered.media_ids):
            media_id = delivered.media_ids[step.file]
        else:
            media_id = await upload(self._call, self._api("/media"), file)
            delivered = replace(delivered, media_ids=(*delivered.media_ids, media_id))
        return delivered, media_content(file, media_id, step.caption)

    def file_refusal(self, attachment: Attachment) -> FileRefusal | None:
        return file_refusal(attachment)

    async def _send_template(self, message: OutboundMessage, closed: datetime | None) -> Delivery:
        template = self.settings.reengagement_template
        if template is None:
            raise PermanentError(window_closed_reason(self.name, closed))
        content = template_content(template, message)
        wamid = await self._post(message, {"type": "template", "template": content})
        why = (
            f"the customer's 24-hour window closed at {closed:%Y-%m-%d %H:%M} UTC"
            if closed
            else "the customer never wrote"
        )
        instead = f"the template {template.name} ({template.language}): {why}"
        if files := len(message.attachments):
            instead += f"; {files} file{'s' if files > 1 else ''} not sent (a template has none)"
        return Delivery(wamid, 1, sent_instead=instead)

    async def _post(self, message: OutboundMessage, content: dict[str, Any]) -> str:
        """One messages call; the new message's ``wamid``."""
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.address,
            "biz_opaque_callback_data": str(message.message_id),
            **content,
        }
        answer = await self._call("POST", self._api("/messages"), json=body)
        return str(((answer.get("messages") or [{}])[0]).get("id") or "")

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http.client.request(method, url, **kwargs) as answer:
                text = await answer.text()
                if answer.status >= 300:
                    raise api_error(answer.status, text, answer.headers.get("Retry-After"))
                answered = json.loads(text) if text else {}
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"WhatsApp unreachable: {type(error).__name__}") from error
        except ValueError as error:
            raise TransientError(f"WhatsApp answered HTTP {answer.status} without JSON") from error
        if not isinstance(answered, dict):
            raise TransientError(f"WhatsApp answered HTTP {answer.status} with no JSON object")
        return answered

    async def test_connection(self) -> str:
        fields = "display_phone_number,verified_name,quality_rating"
        number = await self._call("GET", self._api(), params={"fields": fields})
        return (
            f"number {number.get('display_phone_number')} "
            f"({number.get('verified_name')!r}), quality {number.get('quality_rating')}"
        )


def template_content(template: ReengagementTemplate, message: OutboundMessage) -> dict[str, Any]:
    """The messages call's ``template``: its name, language and body parameters, in order."""
    content: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    names = {"customer_name": message.customer_name, "agent_name": message.author_name}
    if template.body_parameters:
        # On one line: Meta refuses a parameter with a line break, a tab or a run of spaces.
        parameters = [
            {
                "type": "text",
                "text": " ".join((names[wanted] or "").split()) or template.unknown_name,
            }
            for wanted in template.body_parameters
        ]
        content["components"] = [{"type": "body", "parameters": parameters}]
    return content


def window_closed_reason(channel: str, closed: datetime | None) -> str:
    since = f"closed at {closed:%Y-%m-%d %H:%M} UTC" if closed else "never opened"
    return (
        f"the customer's 24-hour WhatsApp window {since}: only a template can be sent until "
        f"they write again, and channel {channel} has no reengagement_template"
    )
