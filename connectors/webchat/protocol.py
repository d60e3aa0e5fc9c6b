"""The widget's WebSocket protocol: frames in, frames out, and the visitor token.

Pure: no sockets here. A visitor token is ``<visitor id>.<HMAC>``, so the hub
can recognise a returning visitor without storing tokens, and a visitor
cannot forge another's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from connectors.base import Address, InboundMessage

IDENTITY_KIND = "webchat"
EMAIL_KIND = "email"

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hello(Frame):
    type: Literal["hello"]
    token: Annotated[str, StringConstraints(max_length=200)] | None = None
    name: ShortText | None = None
    email: Email | None = None


class Say(Frame):
    type: Literal["message"]
    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    name: ShortText | None = None
    email: Email | None = None


ClientFrame = TypeAdapter(Annotated[Hello | Say, Field(discriminator="type")])


def claimed_client_id(raw: str) -> str | None:
    """The ``client_id`` of a message frame that failed validation, so the widget can mark it."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "message":
        return None
    client_id = data.get("client_id")
    return client_id if isinstance(client_id, str) else None


def error_frame(error: str, client_id: str | None = None) -> dict[str, Any]:
    frame = {"type": "error", "error": error}
    return frame if client_id is None else {**frame, "client_id": client_id}


def issue_token(key: bytes) -> tuple[str, str]:
    """A new visitor id and the token that proves it."""
    visitor = secrets.token_urlsafe(18)
    return visitor, f"{visitor}.{_sign(key, visitor)}"


def visitor_of(key: bytes, token: str) -> str | None:
    visitor, _, signature = token.partition(".")
    if visitor and signature and hmac.compare_digest(signature, _sign(key, visitor)):
        return visitor
    return None


def _sign(key: bytes, visitor: str) -> str:
    return hmac.new(key, f"webchat-visitor:{visitor}".encode(), hashlib.sha256).hexdigest()[:32]


def inbound(channel: str, visitor: str, frame: Say, hello: Hello) -> InboundMessage:
    """The message as the hub takes it; name and email given on hello count for every message."""
    name = frame.name or hello.name
    email = frame.email or hello.email
    return InboundMessage(
        channel=channel,
        external_id=f"{visitor}:{frame.client_id}",
        sender=Address(IDENTITY_KIND, visitor),
        sender_name=name or "Web visitor",
        text=frame.text,
        linked=(Address(EMAIL_KIND, email),) if email else (),
    )


def widget_message(message: dict[str, Any]) -> dict[str, Any]:
    """What the widget may see of a stored message: no internal ids of agents or notes."""
    return {
        "id": message["id"],
        "from": "visitor" if message["direction"] == "in" else "agent",
        "text": message["text"],
        "at": message["created_at"],
    }
