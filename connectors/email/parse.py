"""One raw RFC 5322 message in, what the hub stores out.

Pure: bytes in, a ParsedMail out, no I/O. Real-world mail is often malformed, so
every step degrades to a note in ``defects`` rather than failing; only input that
is no mail at all, or has no sender to answer, raises Unparseable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import Message

from connectors.email.charsets import storable
from connectors.email.headers import (
    Headers,
    message_ids,
    parse_address_list,
    recipients,
    sent_date,
)
from connectors.email.mime import (
    FoundAttachment,
    MimeBody,
    MimeLimits,
    MimeWalker,
    PartBudget,
    TooComplex,
)
from connectors.email.reply_text import html_to_text, sanitized_html, split_reply

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_DEFECT_NOTES = 50
DEFAULT_LIMITS = MimeLimits()


@dataclass(frozen=True)
class MailAttachment:
    name: str
    content_type: str
    size: int
    data: bytes | None


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: str
    from_name: str | None
    to: tuple[str, ...]
    subject: str
    date: datetime | None
    text: str
    full_text: str
    html: str | None
    attachments: tuple[MailAttachment, ...]
    automated: str | None
    defects: tuple[str, ...]
    authentication_results: tuple[str, ...]
    """The Authentication-Results headers as they are, top down: for the connector to trust
    the ones its own mail server added."""
    digest: str
    """What the mail says (sender, subject, body), whatever headers servers added on the way:
    tells a redelivery from another mail reusing its Message-ID."""


class Unparseable(Exception):
    """The input is not a mail the hub can keep; ``reason`` is shown to the admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_mail(
    raw: bytes,
    *,
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    limits: MimeLimits = DEFAULT_LIMITS,
) -> ParsedMail:
    """Parse one message; raises Unparseable and nothing else.

    CPU time grows with the number of MIME parts (about 1 s per thousand), so
    ``limits`` bounds it; callers on an event loop run this in a thread.
    """
    try:
        return _parse(bytes(raw), max_attachment_bytes, PartBudget(limits))
    except Unparseable:
        raise
    except TooComplex as exc:
        raise Unparseable(exc.reason) from exc
    except RecursionError as exc:
        raise Unparseable("MIME parts nested too deeply to parse") from exc
    except Exception as exc:
        raise Unparseable(f"message could not be parsed ({type(exc).__name__}: {exc})") from exc


def _parse(raw: bytes, max_attachment_bytes: int, budget: PartBudget) -> ParsedMail:
    notes: list[str] = []
    raw = _strip_leading_blank_lines(raw, notes)
    _reject_non_rfc822(raw)
    msg = budget.parse(raw)
    if not msg.keys():
        raise Unparseable("not an RFC 822 message (no header lines)")
    headers = Headers(msg, notes)
    from_address, from_name = _sender(headers)
    subject = headers.text("subject").strip()
    walker = MimeWalker(notes, budget)
    body = walker.walk(msg, "")
    full_text, html = _texts(body, notes)
    return ParsedMail(
        message_id=_first_or_none(message_ids(headers.first("message-id"))),
        in_reply_to=message_ids(headers.first("in-reply-to")),
        references=message_ids(" ".join(headers.all("references"))),
        from_address=from_address,
        from_name=from_name,
        to=recipients(headers),
        subject=subject,
        date=sent_date(headers, notes),
        text=split_reply(full_text),
        full_text=full_text,
        html=html,
        attachments=_finish_attachments(body.attachments, max_attachment_bytes),
        automated=_automated(headers, msg, from_address, walker.content_types),
        defects=_capped(notes),
        authentication_results=tuple(headers.all("authentication-results")),
        digest=_content_digest(raw, from_address, subject),
    )


def _content_digest(raw: bytes, from_address: str, subject: str) -> str:
    """SHA-256 of the sender, the subject and the body, line ends and trailing white space
    aside (as DKIM's relaxed body canonicalization): servers may change those."""
    end = _HEADER_END.search(raw)
    body = raw[end.end() :] if end else b""
    lines = [line.rstrip() for line in body.replace(b"\r\n", b"\n").split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    head = f"{from_address}\0{subject}\0".encode("utf-8", "replace")
    return hashlib.sha256(head + b"\n".join(lines)).hexdigest()


def _capped(notes: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(notes))
    if len(unique) <= MAX_DEFECT_NOTES:
        return tuple(unique)
    omitted = len(unique) - MAX_DEFECT_NOTES
    return (*unique[:MAX_DEFECT_NOTES], f"{omitted} more defect notes omitted")


def _sender(headers: Headers) -> tuple[str, str | None]:
    value = headers.first("from")
    if not value.strip():
        raise Unparseable("no From address")
    mailboxes = parse_address_list(value, headers.notes)
    if not mailboxes:
        raise Unparseable(f"no usable From address in {value[:200]!r}")
    name, address = mailboxes[0]
    if not name or name.lower().strip("<>") == address:
        return address, None
    return address, name


def _first_or_none(ids: tuple[str, ...]) -> str | None:
    return ids[0] if ids else None


def _finish_attachments(found: list[FoundAttachment], limit: int) -> tuple[MailAttachment, ...]:
    return tuple(
        MailAttachment(
            name=item.name or f"attachment-{number}",
            content_type=item.content_type,
            size=len(item.data),
            data=item.data if len(item.data) <= limit else None,
        )
        for number, item in enumerate(found, 1)
    )


def _texts(body: MimeBody, notes: list[str]) -> tuple[str, str | None]:
    """(full plain text, sanitized HTML); the plain text comes from HTML when there is none."""
    html_source = "\n".join(body.html)
    plain = [text.strip("\n") for text in body.plain if text.strip()]
    full_text = "\n\n".join(plain)
    if not plain and html_source.strip():
        full_text = html_to_text(html_source, notes)
    return storable(full_text), sanitized_html(html_source, notes) if body.html else None


# --- Not a mail at all ---------------------------------------------------------

_MAGIC_SIGNATURES = (
    (b"\xd0\xcf\x11\xe0", "looks like an Outlook .msg file"),
    (b"%PDF-", "looks like a PDF document"),
    (b"PK\x03\x04", "looks like a ZIP archive"),
    (b"\x1f\x8b", "looks like a gzip file"),
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_AREA_LIMIT = 64 * 1024


def _strip_leading_blank_lines(raw: bytes, notes: list[str]) -> bytes:
    stripped = raw.lstrip(b"\r\n")
    if stripped != raw and stripped.strip():
        notes.append("blank lines before the first header removed")
    return stripped


def _reject_non_rfc822(raw: bytes) -> None:
    if not raw.strip():
        raise Unparseable("empty message")
    for magic, what in _MAGIC_SIGNATURES:
        if raw.startswith(magic):
            raise Unparseable(f"not an RFC 822 message ({what})")
    end = _HEADER_END.search(raw, 0, _HEADER_AREA_LIMIT)
    if b"\x00" in raw[: end.start() if end else _HEADER_AREA_LIMIT]:
        raise Unparseable("not an RFC 822 message (binary data: NUL bytes in the header area)")


# --- Machine mail ----------------------------------------------------------------

_PRECEDENCE_AUTOMATED = frozenset({"bulk", "list", "junk", "auto_reply"})


def _automated(
    headers: Headers, msg: Message, from_address: str, content_types: list[str]
) -> str | None:
    checks: tuple[Callable[[], str | None], ...] = (
        lambda: _report_reason(msg, from_address, content_types),
        lambda: _auto_submitted_reason(headers),
        lambda: _autoreply_header_reason(headers),
        lambda: _precedence_reason(headers),
        lambda: _list_reason(headers),
    )
    return next((reason for check in checks if (reason := check())), None)


def _report_reason(msg: Message, from_address: str, content_types: list[str]) -> str | None:
    report_type = _report_type(msg)
    if report_type is not None:
        if report_type == "delivery-status":
            return "bounce (delivery status notification)"
        if report_type == "disposition-notification":
            return "read receipt (disposition notification)"
        return f"report ({report_type or 'unknown type'})"
    if "message/delivery-status" in content_types:
        return "bounce (delivery status notification)"
    if from_address.split("@")[0] == "mailer-daemon":
        return "bounce (from MAILER-DAEMON)"
    return None


def _report_type(msg: Message) -> str | None:
    """report-type of a multipart/report message ("" if unnamed); None for any other message."""
    try:
        if msg.get_content_type() != "multipart/report":
            return None
        return str(msg.get_param("report-type") or "").lower()
    except Exception:
        return ""


def _auto_submitted_reason(headers: Headers) -> str | None:
    value = headers.first("auto-submitted").split(";")[0].strip().lower()
    return f"auto-submitted: {value}" if value and value != "no" else None


def _autoreply_header_reason(headers: Headers) -> str | None:
    """X-Auto-Response-Suppress is not a sign: Exchange puts it on people's mail too."""
    if headers.all("x-autoreply"):
        return "x-autoreply"
    if headers.all("x-autorespond"):
        return "auto-responder (X-Autorespond)"
    return None


def _precedence_reason(headers: Headers) -> str | None:
    value = headers.first("precedence").strip().lower()
    return f"precedence: {value}" if value in _PRECEDENCE_AUTOMATED else None


def _list_reason(headers: Headers) -> str | None:
    if headers.all("list-id"):
        return "list mail (List-Id)"
    if headers.all("list-unsubscribe"):
        return "list mail (List-Unsubscribe)"
    return None
