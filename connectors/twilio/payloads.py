"""Pure mapping between Twilio's webhook forms and the hub's messages and receipts.

Twilio POSTs form fields (``MessageSid``, ``From``, ``Body``, ``NumMedia``,
``MediaUrl0``...; a status callback's ``MessageStatus`` and ``ErrorCode``). Nothing
here does I/O: media are only listed, the connector fetches them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
from collections.abc import Iterable, Mapping

from connectors.base import Address, Attachment, DeliveryReport, DeliveryState, InboundMessage
from connectors.media import safe_media_type
from connectors.phone import IDENTITY_KIND, phone_address
from connectors.secret_check import same_secret

MAX_MEDIA = 10
"""Twilio sends at most ten media with one MMS."""
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
"""Twilio's default opt-out and opt-in keywords: a message that is one of them, whatever its
case and the spaces around it."""

STATES = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
}
"""Twilio's message statuses worth recording; ``queued``, ``accepted``, ``sending``: not yet."""

ERRORS = {
    "21211": "the number is not a valid phone number",
    "21408": "sending to this region is not enabled for the account",
    "21610": "the customer texted STOP to this number: they must text START first",
    "21614": "the number cannot receive SMS (not a mobile number)",
    "30003": "the phone is unreachable (off or out of coverage)",
    "30004": "the message was blocked (by the recipient or their carrier)",
    "30005": "the number is unknown or no longer in service",
    "30006": "the number is a landline or its carrier cannot take SMS",
    "30007": "the carrier filtered the message (taken for spam)",
    "30008": "the carrier could not deliver it (unknown error)",
}
"""Twilio's error codes agents meet most, in words (docs: twilio.com/docs/api/errors)."""


def twilio_signature(token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Base64 HMAC-SHA1, keyed with the Auth Token, of the URL followed by each POST
    parameter's name and value, sorted by name (Twilio's webhook signature)."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_by_twilio(
    token: str, presented: str | None, urls: Iterable[str], params: list[tuple[str, str]]
) -> bool:
    """Whether ``presented`` signs the parameters for one of the URLs (constant time each)."""
    return any(same_secret(presented, twilio_signature(token, url, params)) for url in urls)


def error_reason(code: str | None, said: str | None = None) -> str:
    """An error as agents read it: our words for a known code, else Twilio's, with the code."""
    words = ERRORS.get(code or "") or said or "Twilio gave no reason"
    return f"{words} (Twilio error {code})" if code else words


def opt_choice(body: str) -> bool | None:
    """``True``: an opt-out keyword, ``False``: an opt-in one, ``None``: a message."""
    word = body.strip().upper()
    if word in OPT_OUT_WORDS:
        return True
    if word in OPT_IN_WORDS:
        return False
    return None


def listed_media(form: Mapping[str, str]) -> list[dict[str, str]]:
    """The MMS media: each one's URL and declared type, in order."""
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        count = 0
    media = []
    for index in range(count):
        url = form.get(f"MediaUrl{index}")
        if url:
            media_type = safe_media_type(form.get(f"MediaContentType{index}") or "")
            media.append({"url": url, "content_type": media_type})
    return media


def media_name(sid: str, index: int, media_type: str) -> str:
    return f"{sid}-{index + 1}{mimetypes.guess_extension(media_type) or ''}"


def inbound_of(form: Mapping[str, str], channel: str) -> InboundMessage | None:
    """The message a webhook form carries; ``None`` when it has no ``MessageSid``/``From``."""
    sid, sender = form.get("MessageSid"), form.get("From")
    if not sid or not sender:
        return None
    body = form.get("Body") or ""
    media = listed_media(form)
    meta: dict[str, object] = {"to": form.get("To"), "segments": form.get("NumSegments")}
    if media:
        meta["media"] = media
    return InboundMessage(
        channel=channel,
        external_id=sid,
        sender=Address(IDENTITY_KIND, phone_address(sender)),
        text=body,
        attachments=tuple(
            Attachment(media_name(sid, index, item["content_type"]), item["content_type"], 0)
            for index, item in enumerate(media)
        ),
        opt_out=opt_choice(body),
        meta={key: value for key, value in meta.items() if value is not None},
    )


def report_of(form: Mapping[str, str], message_id: int) -> DeliveryReport | None:
    """The receipt a status callback carries, if its status is one worth recording."""
    state = STATES.get(form.get("MessageStatus") or "")
    sid = form.get("MessageSid")
    if state is None or not sid:
        return None
    reason = None
    if state == DeliveryState.FAILED:
        reason = error_reason(form.get("ErrorCode"), form.get("ErrorMessage"))
    return DeliveryReport(message_id, sid, state, reason)
