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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from connectors.base import Address, InboundMessage, Link, Proof
from connectors.secret_check import same_secret

IDENTITY_KIND = "webchat"
EMAIL_KIND = "email"
SITE_KIND = "site"
"""A signed-in user of the site the widget is on: ``<channel>:<user id>``."""

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignedIdentity(Frame):
    """Who the embedding site says its signed-in user is, signed with the channel's secret."""

    user_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    email: (
        Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
        | None
    ) = None
    """As the site signed it: compared before it is lower-cased."""
    name: ShortText | None = None
    signature: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]

    @model_validator(mode="after")
    def names_someone(self) -> SignedIdentity:
        if self.user_id is None and self.email is None:
            raise ValueError("a signed identity needs user_id or email")
        return self


class Hello(Frame):
    type: Literal["hello"]
    token: Annotated[str, StringConstraints(max_length=200)] | None = None
    name: ShortText | None = None
    email: Email | None = None
    identity: SignedIdentity | None = None
    zone: Annotated[str, StringConstraints(max_length=64)] | None = None
    """The browser's time zone (``Intl.DateTimeFormat().resolvedOptions().timeZone``), a hint
    the hub keeps only when it names a zone it knows."""
    locale: Annotated[str, StringConstraints(max_length=35)] | None = None
    """The browser's language (``navigator.language``), a hint like ``zone``."""


class Verify(Frame):
    """Send a one-time code to this address, to prove it is the visitor's."""

    type: Literal["verify"]
    email: Email


class Code(Frame):
    type: Literal["code"]
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]


class Say(Frame):
    type: Literal["message"]
    client_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    name: ShortText | None = None
    email: Email | None = None


ClientFrame = TypeAdapter(Annotated[Hello | Say | Verify | Code, Field(discriminator="type")])


def claimed_client_id(raw: str) -> str | None:
    """The ``client_id`` of a message frame that failed validation, so the widget can mark it."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python recurses
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
    if visitor and same_secret(signature, _sign(key, visitor)):
        return visitor
    return None


def _sign(key: bytes, visitor: str) -> str:
    return hmac.new(key, f"webchat-visitor:{visitor}".encode(), hashlib.sha256).hexdigest()[:32]


def signature(secret: str, user_id: str | None, email: str | None) -> str:
    """What the embedding site's backend computes: hex HMAC-SHA256 of ``"<user id>\n<email>"``
    (an absent field is empty)."""
    message = f"{user_id or ''}\n{email or ''}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_links(channel: str, secret: str, identity: SignedIdentity) -> tuple[Link, ...] | None:
    """The identities a correctly signed ``identity`` proves; ``None`` if the signature is wrong.

    A user id is the site's own: it names a ``site`` identity scoped to the channel.
    """
    expected = signature(secret, identity.user_id, identity.email)
    if not same_secret(identity.signature.lower(), expected):
        return None
    links = []
    if identity.email is not None:
        links.append(Link(Address(EMAIL_KIND, identity.email.lower()), Proof.SIGNED))
    if identity.user_id is not None:
        links.append(Link(Address(SITE_KIND, f"{channel}:{identity.user_id}"), Proof.SIGNED))
    return tuple(links)


def inbound(
    channel: str, visitor: str, frame: Say, hello: Hello, links: tuple[Link, ...]
) -> InboundMessage:
    """The message as the hub takes it; name and email given on hello count for every message.

    A typed email is the visitor's claim; what the site signed (``links``) is proof.
    """
    name = frame.name or hello.name or (hello.identity.name if hello.identity else None)
    email = frame.email or hello.email
    proven = {link.address for link in links}
    claimed = Address(EMAIL_KIND, email) if email else None
    return InboundMessage(
        channel=channel,
        external_id=f"{visitor}:{frame.client_id}",
        sender=Address(IDENTITY_KIND, visitor),
        sender_name=name or "Web visitor",
        text=frame.text,
        linked=links,
        claimed=(claimed,) if claimed and claimed not in proven else (),
        zone=hello.zone,
        locale=hello.locale,
    )


def widget_message(message: dict[str, Any]) -> dict[str, Any]:
    """What the widget may see of a stored message: no internal ids of agents or notes."""
    return {
        "id": message["id"],
        "from": "visitor" if message["direction"] == "in" else "agent",
        "text": message["text"],
        "at": message["created_at"],
    }
