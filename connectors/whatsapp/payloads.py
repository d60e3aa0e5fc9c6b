"""Pure mapping between the Cloud API's webhook JSON and the hub's messages and receipts.

Meta POSTs ``{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":
"messages", "value": {...}}]}]}``; a value carries ``contacts`` (profile names by
``wa_id``) and ``messages``, or ``statuses`` (receipts for what we sent, with the
``biz_opaque_callback_data`` the hub set on the send: our message id). Nothing
here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    Address,
    Attachment,
    DeliveryReport,
    DeliveryState,
    InboundMessage,
    Reaction,
)
from connectors.media import safe_media_type
from connectors.phone import IDENTITY_KIND, phone_address
from connectors.secret_check import same_secret

STATES = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "failed": DeliveryState.FAILED,
}

ERRORS = {
    "131047": "more than 24 hours have passed since the customer last wrote: "
    "only a template can be sent until they write again",
    "131026": "the message could not be delivered (the number may not be on WhatsApp, "
    "or the customer's app is too old or has not accepted WhatsApp's terms)",
    "131049": "Meta held the message back to keep the customer's engagement healthy",
    "131050": "the customer stopped marketing messages from this business",
    "131051": "WhatsApp does not support this message type",
    "131021": "the recipient is the business number itself",
    "131031": "the business account is locked",
    "132001": "the template does not exist in this language or is not approved",
    "130429": "too many messages for the number's throughput",
    "131056": "too many messages to this customer in a short time",
    "190": "the access token is expired or invalid",
}
"""The Cloud API error codes agents meet most, in words (Meta's error code reference)."""


@dataclass(frozen=True)
class Received:
    """What one webhook POST holds: messages to store and receipts to record."""

    messages: tuple[InboundMessage, ...]
    reports: tuple[DeliveryReport, ...]


def signature(secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_by_meta(secret: str, presented: str | None, body: bytes) -> bool:
    return same_secret(presented, signature(secret, body))


def error_reason(error: Mapping[str, Any]) -> str:
    """An error as agents read it: our words for a known code, else Meta's, with the code."""
    code = str(error["code"]) if error.get("code") is not None else None
    details = (error.get("error_data") or {}).get("details")
    said = error.get("title") or error.get("message") or details or "Meta gave no reason"
    words = ERRORS.get(code or "") or said
    return f"{words} (WhatsApp error {code})" if code else words


def changes(payload: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Each ``messages`` change's value in the payload."""
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            if change.get("field") == "messages" and isinstance(change.get("value"), dict):
                yield change["value"]


class Unreadable(ValueError):
    """A signed webhook whose JSON is not shaped as Meta documents it: kept in quarantine,
    not guessed at."""


def received(payload: Mapping[str, Any], channel: str) -> Received:
    """What the payload holds; :class:`Unreadable` when a part of it has another shape."""
    try:
        return read_changes(payload, channel)
    except (AttributeError, TypeError, KeyError, ValueError) as error:
        raise Unreadable(type(error).__name__) from error


def read_changes(payload: Mapping[str, Any], channel: str) -> Received:
    messages: list[InboundMessage] = []
    reports: list[DeliveryReport] = []
    for value in changes(payload):
        names = {
            contact.get("wa_id"): (contact.get("profile") or {}).get("name")
            for contact in value.get("contacts") or []
        }
        for message in value.get("messages") or []:
            if (inbound := inbound_of(message, names, channel)) is not None:
                messages.append(inbound)
        for status in value.get("statuses") or []:
            if (report := report_of(status)) is not None:
                reports.append(report)
    return Received(tuple(messages), tuple(reports))


def timestamp(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (ValueError, OverflowError, OSError):
        return None


MEDIA = frozenset({"image", "document", "audio", "video", "sticker"})
"""Types whose file the connector fetches through the media endpoint."""


def location_text(location: Mapping[str, Any]) -> str:
    place = ", ".join(str(location[k]) for k in ("name", "address") if location.get(k))
    where = f"{location.get('latitude')}, {location.get('longitude')}"
    return f"Location: {place} ({where})" if place else f"Location: {where}"


def contacts_text(contacts: list[Mapping[str, Any]]) -> str:
    cards = []
    for card in contacts:
        name = (card.get("name") or {}).get("formatted_name") or "a contact"
        phones = ", ".join(str(p.get("phone")) for p in card.get("phones") or [] if p.get("phone"))
        cards.append(f"{name} ({phones})" if phones else name)
    return "Contact: " + "; ".join(cards)


def interactive_text(interactive: Mapping[str, Any]) -> str:
    """The button or list row the customer chose, by its title."""
    chosen = interactive.get(str(interactive.get("type"))) or {}
    return f"Chose: {chosen.get('title') or chosen.get('id') or '?'}"


READERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "text": lambda m: str((m.get("text") or {}).get("body") or ""),
    "location": lambda m: location_text(m.get("location") or {}),
    "contacts": lambda m: contacts_text(m.get("contacts") or []),
    "interactive": lambda m: interactive_text(m.get("interactive") or {}),
    "button": lambda m: f"Chose: {(m.get('button') or {}).get('text') or '?'}",
    "reaction": lambda m: f"Reacted {(m.get('reaction') or {}).get('emoji') or '(removed)'}",
    **{kind: lambda m, kind=kind: str((m.get(kind) or {}).get("caption") or "") for kind in MEDIA},
}
"""What each message type says, as the inbox shows it."""


def text_of(message: Mapping[str, Any]) -> str:
    """What the message says; a type the hub does not read is named, never dropped."""
    kind = str(message.get("type"))
    reader = READERS.get(kind)
    return reader(message) if reader else f"(a WhatsApp {kind} message the hub cannot show)"


def media_of(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The file a media message carries, listed (size 0) until the connector fetches it."""
    kind = str(message.get("type"))
    media = message.get(kind) if kind in MEDIA else None
    if not isinstance(media, dict) or not media.get("id"):
        return ()
    media_type = safe_media_type(str(media.get("mime_type") or "").split(";")[0])
    name = media.get("filename") or (
        f"{kind}-{media['id']}{mimetypes.guess_extension(media_type) or ''}"
    )
    return (Attachment(str(name), media_type, 0),)


def extras_of(message: Mapping[str, Any]) -> dict[str, Any]:
    """What the hub keeps of a message beyond its text: the media id to fetch, the place,
    the message a reaction or a reply is about."""
    kind = str(message.get("type"))
    extras: dict[str, Any] = {}
    if kind in MEDIA and (message.get(kind) or {}).get("id"):
        extras["media_id"] = str(message[kind]["id"])
    if kind == "location":
        extras["location"] = message.get("location")
    if kind == "reaction" and (message.get("reaction") or {}).get("message_id"):
        extras["reacts_to"] = str(message["reaction"]["message_id"])
    if (context := message.get("context")) and context.get("id"):
        extras["in_reply_to"] = context["id"]
    return extras


def inbound_of(
    message: Mapping[str, Any], names: Mapping[str, str | None], channel: str
) -> InboundMessage | None:
    """The message; ``None`` without an id or sender. The sender's WhatsApp id is their
    number without the ``+``: stored in E.164, so SMS and WhatsApp share one identity."""
    wamid, sender = message.get("id"), message.get("from")
    if not wamid or not sender:
        return None
    sent_at = timestamp(message.get("timestamp"))
    meta: dict[str, Any] = {"type": message.get("type"), **extras_of(message)}
    if sent_at is not None:
        meta["timestamp"] = sent_at.isoformat()
    return InboundMessage(
        channel=channel,
        external_id=str(wamid),
        sender=Address(IDENTITY_KIND, phone_address("+" + str(sender))),
        text=text_of(message),
        sender_name=names.get(sender),
        attachments=media_of(message),
        sent_at=sent_at,
        reaction=reaction_of(message),
        meta=meta,
    )


def reaction_of(message: Mapping[str, Any]) -> Reaction | None:
    """A reaction's target and emoji (an empty or missing emoji: taken back)."""
    reaction = message.get("reaction") if message.get("type") == "reaction" else None
    if not isinstance(reaction, dict) or not reaction.get("message_id"):
        return None
    return Reaction(str(reaction["message_id"]), str(reaction.get("emoji") or "") or None)


def report_of(status: Mapping[str, Any]) -> DeliveryReport | None:
    """The receipt a status carries, for a message the hub sent (its id in the callback data)."""
    state = STATES.get(status.get("status") or "")
    ours = str(status.get("biz_opaque_callback_data") or "")
    if state is None or not status.get("id") or not (ours.isascii() and ours.isdigit()):
        return None
    reason = None
    if state == DeliveryState.FAILED:
        errors = status.get("errors") or [{}]
        reason = error_reason(errors[0])
    return DeliveryReport(int(ours), str(status["id"]), state, reason)
