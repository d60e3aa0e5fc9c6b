"""The API channel: any system POSTs customer messages in; replies go to its callback URL.

Inbound: ``POST /channels/<name>/messages`` with ``Authorization: Bearer <token>``
and a JSON body; the answer is 202 with the stored message id once the
message is committed (200 with ``duplicate: true`` for a repeated id).

Outbound: a JSON POST to ``callback_url``, signed as
``X-Hub-Signature: sha256=HMAC(secret, "<timestamp>.<body>")`` with the
timestamp in ``X-Hub-Timestamp``, so the receiver can check it came from us.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from connectors.api.settings import ApiChannel
from connectors.base import (
    Address,
    AuthFailed,
    Connector,
    Delivery,
    HubPort,
    InboundMessage,
    Link,
    OutboundMessage,
    PermanentError,
    Proof,
    RateLimited,
    TransientError,
)
from connectors.http_session import HttpSession
from connectors.phone import IDENTITY_KIND as PHONE
from connectors.phone import phone_address
from connectors.retry import retry_after_seconds
from connectors.route_docs import RouteDoc
from connectors.secret_check import bearer_token, same_secret
from hub.api.framework import read_model
from hub.errors import Unauthorized

SEND_TIMEOUT = aiohttp.ClientTimeout(total=15)
DEFAULT_RETRY_AFTER = 30.0


class PostedSender(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    email: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True,
                to_lower=True,
                max_length=320,
                pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            ),
        ]
        | None
    ) = Field(
        None,
        description="the sender's email: linked to that email's customer if the channel has "
        "verified_email, else recorded as the sender's unverified claim",
    )


class PostedMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        description="your unique id for this message; a repeated id is stored once"
    )
    sender: PostedSender = Field(alias="from")
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    sent_at: datetime | None = None
    automated: bool = Field(
        False, description="sent by a machine (an auto-reply, a bot): the hub never answers it"
    )


class Received(BaseModel):
    id: int = Field(description="the stored message's id")
    conversation_id: int
    duplicate: bool = Field(description="this id came before: stored once, not again")


def inbound(settings: ApiChannel, posted: PostedMessage) -> InboundMessage:
    """The message as the hub takes it; ``from.email`` links only if the channel vouches for it.

    A ``phone`` sender is kept in E.164, as SMS keeps it: one identity for both."""
    email = Address("email", posted.sender.email) if posted.sender.email else None
    vouched = email is not None and settings.verified_email
    address = posted.sender.address
    if settings.identity_kind == PHONE:
        address = phone_address(address)
    return InboundMessage(
        channel=settings.name,
        external_id=posted.id,
        sender=Address(settings.identity_kind, address),
        sender_name=posted.sender.name,
        text=posted.text,
        sent_at=posted.sent_at,
        linked=(Link(email, Proof.SYSTEM),) if email and vouched else (),
        claimed=(email,) if email and not vouched else (),
        automated=posted.automated,
    )


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class ApiConnector(Connector):
    kind = "api"

    def __init__(self, settings: ApiChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._http = HttpSession()

    @property
    def identity_kind(self) -> str:
        return self.settings.identity_kind

    def routes(self) -> Iterable[web.RouteDef]:
        return [web.post(f"/channels/{self.name}/messages", self.receive)]

    def route_docs(self) -> Iterable[RouteDoc]:
        token = {
            "type": "http",
            "scheme": "bearer",
            "description": f"channel {self.name}'s token (the variable its token_env names)",
        }
        yield RouteDoc(
            "POST",
            f"/channels/{self.name}/messages",
            f"channel_{self.name}_messages",
            f"A customer message into API channel {self.name} (202; 200: a repeated id)",
            "channels",
            description="403: the sender is an identity another channel brought in. "
            "Replies go as signed JSON POSTs to the channel's callback_url: see docs/api.md.",
            body=PostedMessage,
            response=Received,
            statuses=(202, 200),
            errors=(400, 401, 403, 404, 413, 422),
            security={f"channel_{self.name}_token": token},
        )

    async def start(self) -> None:
        self._http.open(SEND_TIMEOUT)

    async def stop(self) -> None:
        await self._http.close()

    def authorized(self, request: web.Request) -> bool:
        return same_secret(bearer_token(request.headers), self.settings.token_env.reveal())

    async def receive(self, request: web.Request) -> web.Response:
        if not self.authorized(request):
            raise Unauthorized(f"missing or wrong bearer token for channel {self.name}")
        posted = await read_model(request, PostedMessage)
        result = await self.hub.ingest(inbound(self.settings, posted))
        received = Received(
            id=result.message_id,
            conversation_id=result.conversation_id,
            duplicate=result.duplicate,
        )
        return web.json_response(received.model_dump(), status=200 if received.duplicate else 202)

    async def send(self, message: OutboundMessage) -> Delivery:
        url = self.settings.callback_url
        if url is None:
            raise PermanentError(f"channel {self.name} has no callback_url to deliver replies to")
        body = json.dumps(
            {
                "message_id": message.message_id,
                "conversation_id": message.conversation_id,
                "to": message.to.address,
                "text": message.text,
            }
        ).encode()
        try:
            async with self._http.client.post(url, data=body, headers=self._headers(body)) as reply:
                text = await reply.text()
                return self._delivery(reply, text)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(
                f"callback unreachable: {type(error).__name__}: {error}"
            ) from error

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        secret = self.settings.callback_secret_env
        if secret is not None:
            timestamp = str(int(self.hub.now().timestamp()))
            headers["X-Hub-Timestamp"] = timestamp
            headers["X-Hub-Signature"] = sign(secret.reveal().encode(), timestamp, body)
        return headers

    def _delivery(self, reply: aiohttp.ClientResponse, text: str) -> Delivery:
        status = f"callback answered {reply.status}: {text[:200]}".rstrip(": ")
        if reply.status == 429:
            raise RateLimited(
                status, retry_after_seconds(reply.headers.get("Retry-After"), DEFAULT_RETRY_AFTER)
            )
        if reply.status in (401, 403):
            raise AuthFailed(status)
        if reply.status >= 500 or reply.status == 408:
            raise TransientError(status)
        if reply.status >= 400:
            raise PermanentError(status)
        try:
            delivered = json.loads(text) if text else {}
        except json.JSONDecodeError:
            delivered = {}
        external = delivered.get("id") if isinstance(delivered, dict) else None
        return Delivery(str(external) if external is not None else None)

    async def test_connection(self) -> str:
        url = self.settings.callback_url
        if url is None:
            return "inbound ready; no callback_url, so replies cannot be delivered"
        try:
            async with self._http.client.head(url) as reply:
                return f"inbound ready; callback {url} reachable (HTTP {reply.status})"
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TransientError(f"callback {url} unreachable: {error}") from error
