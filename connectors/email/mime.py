"""The MIME part tree walked into texts and attachments, surviving broken structure.

Parts that fail are skipped, lost boundaries are searched for in the body, and what the
email package reports as defective becomes a readable note.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass, field
from email import errors
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import Policy
from typing import Any

from connectors.email.charsets import decode_bytes, storable
from connectors.email.headers import decode_words

_DEFECT_TEXT = {
    "CloseBoundaryNotFoundDefect": "missing closing MIME boundary",
    "StartBoundaryNotFoundDefect": "declared MIME boundary never found",
    "MultipartInvariantViolationDefect": "multipart without any parts",
    "InvalidMultipartContentTransferEncodingDefect": "invalid transfer encoding in multipart",
    "NoBoundaryInMultipartDefect": "multipart without a boundary parameter",
    "MissingHeaderBodySeparatorDefect": "missing blank line between headers and body",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "misplaced envelope 'From ' line",
    "MalformedHeaderDefect": "malformed header line",
    "InvalidBase64PaddingDefect": "invalid base64 padding",
    "InvalidBase64CharactersDefect": "invalid characters in base64 data",
    "InvalidBase64LengthDefect": "invalid base64 length",
}
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
"""Bytes no text has (tab, line breaks and form feed aside)."""
_CHARSET_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,40}")
_BOUNDARY_IN_BODY = re.compile(r"^--([^\s\"]{1,200})[ \t]*\r?\n(?=content-)", re.MULTILINE | re.I)


@dataclass(frozen=True)
class MimeLimits:
    """How many parts one mail may have and how deep they may nest; beyond, it is refused."""

    max_parts: int = 1000
    max_depth: int = 20


class TooComplex(Exception):
    """The mail has more parts, or deeper ones, than its ``MimeLimits`` allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PartBudget:
    """Parses one mail, stopping as soon as it has too many parts or they nest too deep.

    The email package builds every part through the policy's message factory
    and attaches it to its parent before reading its content, so counting there
    stops a MIME bomb after ``max_parts`` parts, not after parsing all of it.
    Parts found again later (lost boundaries) are counted in the same budget.
    """

    def __init__(self, limits: MimeLimits) -> None:
        self.limits = limits
        self.parts = 0
        self._policy = email.policy.default.clone(message_factory=self._new_part)

    def parse(self, data: bytes) -> Message:
        return BytesParser(policy=self._policy).parsebytes(data)

    def check_depth(self, depth: int) -> None:
        if depth > self.limits.max_depth:
            raise TooComplex(f"MIME parts nested deeper than {self.limits.max_depth} levels")

    def _new_part(self, policy: Policy) -> _CountedPart:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise TooComplex(f"more than {self.limits.max_parts} MIME parts")
        part = _CountedPart(policy)
        part.budget = self
        return part


class _CountedPart(EmailMessage):
    """A part that knows its depth, so the budget refuses one nested too deep at once."""

    budget: PartBudget | None = None
    depth = 0

    def attach(self, payload: Any) -> None:
        if self.budget is not None and isinstance(payload, _CountedPart):
            payload.depth = self.depth + 1
            self.budget.check_depth(payload.depth)
        super().attach(payload)


@dataclass(frozen=True)
class FoundAttachment:
    name: str | None
    content_type: str
    data: bytes


@dataclass
class MimeBody:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[FoundAttachment] = field(default_factory=list)

    @classmethod
    def concatenated(cls, bodies: list[MimeBody]) -> MimeBody:
        return cls(
            plain=[text for body in bodies for text in body.plain],
            html=[text for body in bodies for text in body.html],
            attachments=[found for body in bodies for found in body.attachments],
        )

    @classmethod
    def alternative(cls, bodies: list[MimeBody]) -> MimeBody:
        """Plain text from the first alternative that has it, HTML from the last."""
        plain = next((body.plain for body in bodies if body.plain), [])
        html = next((body.html for body in reversed(bodies) if body.html), [])
        found = [found for body in bodies for found in body.attachments]
        return cls(plain=list(plain), html=list(html), attachments=found)


class MimeWalker:
    """Walks the part tree; a part that fails is noted and skipped, the rest is kept."""

    def __init__(self, notes: list[str], budget: PartBudget) -> None:
        self.notes = notes
        self.budget = budget
        self.content_types: list[str] = []

    def walk(self, part: Message, path: str, depth: int = 0) -> MimeBody:
        body = MimeBody()
        try:
            body = self._walk_part(part, path, depth)
        except TooComplex:
            raise
        except Exception as exc:
            self.notes.append(f"{_where(part, path)} skipped: {type(exc).__name__}: {exc}")
        for defect in getattr(part, "defects", []):
            self.notes.append(_defect_note(defect, part, path))
        return body

    def _walk_part(self, part: Message, path: str, depth: int) -> MimeBody:
        content_type = part.get_content_type()
        self.content_types.append(content_type)
        self.budget.check_depth(depth)
        if part.get_content_maintype() == "multipart":
            return self._walk_multipart(part, path, depth)
        is_text = content_type in ("text/plain", "text/html")
        if not is_text or part.get_content_disposition() == "attachment":
            return MimeBody(attachments=[self._attachment(part, path)])
        text = _part_text(part, _where(part, path), self.notes)
        return MimeBody(html=[text]) if content_type == "text/html" else MimeBody(plain=[text])

    def _walk_multipart(self, part: Message, path: str, depth: int) -> MimeBody:
        children = part.get_payload()
        if not isinstance(children, list):
            children = self._recover_parts(part, path, str(children or ""))
        children = [*children, *self._parts_after_closing_boundary(part, path)]
        bodies = [
            self.walk(child, _child_path(path, i), depth + 1) for i, child in enumerate(children, 1)
        ]
        if part.get_content_subtype() == "alternative":
            return MimeBody.alternative(bodies)
        return MimeBody.concatenated(bodies)

    def _recover_parts(self, part: Message, path: str, payload: str) -> list[Message]:
        """The declared boundary never occurs: split at the boundary the body does use."""
        found = _BOUNDARY_IN_BODY.search(payload)
        content_type = part.get_content_type()
        recovered = self._reparse_multipart(content_type, found[1], payload) if found else []
        if recovered:
            self.notes.append(
                f"{_where(part, path)}: parts recovered using the boundary found in the body"
            )
        elif payload.strip():
            return [self._unsplit_body(part, path, _part_bytes(part))]
        return recovered

    def _unsplit_body(self, part: Message, path: str, data: bytes) -> Message:
        """A multipart whose boundary never occurs, and no other in sight: a sender that
        declared multipart and wrote plain text. Text is the mail's text, anything else
        an attachment."""
        if _boundary_never_found(part) and not _CONTROL_BYTES.search(data):
            self.notes.append(f"{_where(part, path)}: body not split into parts, kept as text")
            charset = part.get_content_charset() or ""
            declared = f"; charset={charset}" if _CHARSET_NAME.fullmatch(charset) else ""
            return self._leaf_message(f"text/plain{declared}", data)
        self.notes.append(f"{_where(part, path)}: body not split into parts, kept as attachment")
        return self._leaf_message("application/octet-stream", data)

    def _parts_after_closing_boundary(self, part: Message, path: str) -> list[Message]:
        epilogue = part.epilogue or ""
        boundary = part.get_boundary()
        if not epilogue.strip() or not boundary:
            return []
        recovered = []
        if f"--{boundary}" in epilogue:
            recovered = self._reparse_multipart(part.get_content_type(), boundary, epilogue)
        if recovered:
            self.notes.append(f"{_where(part, path)}: parts after the closing boundary recovered")
        else:
            self.notes.append(f"{_where(part, path)}: text after the closing boundary ignored")
        return recovered

    def _attachment(self, part: Message, path: str) -> FoundAttachment:
        name = None
        try:
            name = _safe_filename(part.get_filename(), self.notes)
        except Exception as exc:
            self.notes.append(f"{_where(part, path)}: unreadable filename ({type(exc).__name__})")
        if part.get_content_maintype() == "message":
            self._note_nested_defects(part, path)
        return FoundAttachment(
            name=name, content_type=part.get_content_type(), data=_part_bytes(part)
        )

    def _note_nested_defects(self, part: Message, path: str, depth: int = 0) -> None:
        """An attached message is kept as it is, but what is malformed in it is still noted."""
        children = part.get_payload()
        if depth > self.budget.limits.max_depth or not isinstance(children, list):
            return
        for index, child in enumerate(children, 1):
            child_path = _child_path(path, index)
            for defect in getattr(child, "defects", []):
                self.notes.append(_defect_note(defect, child, child_path))
            self._note_nested_defects(child, child_path, depth + 1)

    def _reparse_multipart(self, content_type: str, boundary: str, body: str) -> list[Message]:
        head = f'Content-Type: {content_type}; boundary="{boundary}"\r\n\r\n'.encode()
        children = self.budget.parse(head + body.encode("utf-8", "surrogateescape")).get_payload()
        return children if isinstance(children, list) else []

    def _leaf_message(self, content_type: str, data: bytes) -> Message:
        return self.budget.parse(f"Content-Type: {content_type}\r\n\r\n".encode() + data)


def _boundary_never_found(part: Message) -> bool:
    """The email package's word for a multipart whose declared boundary is not in its body."""
    missing = (errors.StartBoundaryNotFoundDefect, errors.MultipartInvariantViolationDefect)
    return any(isinstance(defect, missing) for defect in getattr(part, "defects", []))


def _child_path(path: str, index: int) -> str:
    return f"{path}.{index}" if path else str(index)


def _where(part: Message, path: str) -> str:
    try:
        content_type = part.get_content_type()
    except Exception:
        content_type = "unknown type"
    return f"{content_type} {'in part ' + path if path else 'at top level'}"


def _defect_note(defect: object, part: Message, path: str) -> str:
    name = type(defect).__name__
    return f"{_DEFECT_TEXT.get(name, _humanize(name))} ({_where(part, path)})"


def _humanize(defect_name: str) -> str:
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", defect_name.removesuffix("Defect")).lower()
    return words or "malformed MIME structure"


def _part_bytes(part: Message) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):
        compat = email.policy.compat32
        return b"\n".join(inner.as_bytes(policy=compat) for inner in payload)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _part_text(part: Message, where: str, notes: list[str]) -> str:
    data = _part_bytes(part)
    charset = part.get_content_charset()
    if charset is None and part.get_content_subtype() == "html":
        charset = _html_meta_charset(data)
    return _normalize_newlines(decode_bytes(data, charset, where, notes))


_META_CHARSET = re.compile(rb"<meta[^>]{0,200}charset\s*=\s*[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)


def _html_meta_charset(data: bytes) -> str | None:
    found = _META_CHARSET.search(data, 0, 4096)
    return found[1].decode("ascii") if found else None


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _safe_filename(name: str | None, notes: list[str]) -> str | None:
    """Decoded, without directories or control characters: callers may use it as a path."""
    if not name:
        return None
    if "=?" in name:
        name = decode_words(name, "a filename", notes)
    name = re.split(r"[/\\]", name)[-1]
    name = storable("".join(char for char in name if char >= " " and char != "\x7f")).strip()
    return None if name in ("", ".", "..") else name
