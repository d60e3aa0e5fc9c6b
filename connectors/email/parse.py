"""One raw RFC 5322 message in, what the hub stores out.

Pure: bytes in, a ParsedMail out, no I/O. Real-world mail is often malformed, so
every step degrades to a note in ``defects`` rather than failing; only input that
is no mail at all, or has no sender to answer, raises Unparseable.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.policy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import nh3

DEFAULT_MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_MIME_DEPTH = 30
MAX_DEFECT_NOTES = 50
MAX_HTML_DEPTH = 1000


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


class Unparseable(Exception):
    """The input is not a mail the hub can keep; ``reason`` is shown to the admin."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_mail(
    raw: bytes, *, max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
) -> ParsedMail:
    """Parse one message; raises Unparseable and nothing else."""
    try:
        return _parse(bytes(raw), max_attachment_bytes)
    except Unparseable:
        raise
    except RecursionError as exc:
        raise Unparseable("MIME parts nested too deeply to parse") from exc
    except Exception as exc:
        raise Unparseable(f"message could not be parsed ({type(exc).__name__}: {exc})") from exc


def _parse(raw: bytes, max_attachment_bytes: int) -> ParsedMail:
    notes: list[str] = []
    raw = _strip_leading_blank_lines(raw, notes)
    _reject_non_rfc822(raw)
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    if not msg.keys():
        raise Unparseable("not an RFC 822 message (no header lines)")
    headers = _Headers(msg, notes)
    from_address, from_name = _sender(headers)
    walker = _MimeWalker(notes)
    body = walker.walk(msg, "")
    full_text, html = _texts(body, notes)
    return ParsedMail(
        message_id=_first_or_none(_message_ids(headers.first("message-id"))),
        in_reply_to=_message_ids(headers.first("in-reply-to")),
        references=_message_ids(" ".join(headers.all("references"))),
        from_address=from_address,
        from_name=from_name,
        to=_recipients(headers),
        subject=headers.text("subject").strip(),
        date=_date(headers, notes),
        text=split_reply(full_text),
        full_text=full_text,
        html=html,
        attachments=_finish_attachments(body.attachments, max_attachment_bytes),
        automated=_automated(headers, msg, from_address, walker.content_types),
        defects=_capped(notes),
    )


def _capped(notes: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(notes))
    if len(unique) <= MAX_DEFECT_NOTES:
        return tuple(unique)
    omitted = len(unique) - MAX_DEFECT_NOTES
    return (*unique[:MAX_DEFECT_NOTES], f"{omitted} more defect notes omitted")


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


# --- Charsets --------------------------------------------------------------------

_CHARSET_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "cn-gb": "gb18030",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "x-sjis": "cp932",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
}
_UNLABELLED = frozenset({"", "us-ascii", "ascii", "unknown-8bit", "x-unknown", "unknown"})
_NOT_FOR_MAIL = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})


def decode_bytes(data: bytes, charset: str | None, where: str, notes: list[str]) -> str:
    """Decode text in its declared charset, falling back (with a note) when that fails."""
    label = (charset or "").strip().strip("\"'").lower()
    if label in _UNLABELLED:
        return _decode_guess(data)
    codec = _codec(_CHARSET_ALIASES.get(label, label))
    if codec is None:
        return _decode_unknown(data, label, where, notes)
    try:
        return data.decode(codec)
    except (ValueError, LookupError):
        if codec == "cp1252":
            return data.decode("latin-1")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        notes.append(f"text declared as {label} is utf-8 (in {where})")
        return text
    notes.append(f"invalid {label} bytes in {where}: replaced")
    try:
        return data.decode(codec, "replace")
    except (ValueError, LookupError):
        return _decode_guess(data)


def _codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_FOR_MAIL:
        return None
    return info.name


def _decode_guess(data: bytes) -> str:
    for codec in ("utf-8", "cp1252"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _decode_unknown(data: bytes, label: str, where: str, notes: list[str]) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        notes.append(
            f"unknown charset {label!r} in {where}: decoded as windows-1252 with replacement"
        )
        return data.decode("cp1252", "replace")
    notes.append(f"unknown charset {label!r} in {where}: decoded as utf-8")
    return text


def _storable(text: str) -> str:
    """No NUL characters or lone surrogates: databases refuse both."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


# --- Headers ---------------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATE = re.compile("[\udc80-\udcff]")


class _Headers:
    """Raw header values, unfolded; decoded on request, with notes on what was wrong."""

    def __init__(self, msg: Message, notes: list[str]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in msg.raw_items():
            unfolded = _FOLD.sub("", str(value)).replace("\r", "").replace("\n", " ")
            self._values.setdefault(str(name).strip().lower(), []).append(unfolded)
        self.notes = notes

    def all(self, name: str) -> list[str]:
        return [self._eight_bit(name, value) for value in self._values.get(name, [])]

    def first(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    def text(self, name: str) -> str:
        return _storable(decode_words(self.first(name), f"{name.title()} header", self.notes))

    def _eight_bit(self, name: str, value: str) -> str:
        if not _SURROGATE.search(value):
            return value
        self.notes.append(f"unencoded 8-bit characters in the {name.title()} header")
        return _decode_guess(value.encode("utf-8", "surrogateescape"))


def decode_words(value: str, where: str, notes: list[str]) -> str:
    """RFC 2047: adjacent encoded words in one charset are joined before decoding."""
    pieces: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    position, after_word = 0, False

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            pieces.append(decode_bytes(bytes(pending), pending_charset, where, notes))
        pending.clear()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        if gap and not (after_word and gap.isspace()):
            flush()
            pieces.append(gap)
        charset = match[1].split("*")[0].lower()
        if charset != pending_charset:
            flush()
        pending.extend(_word_bytes(match[2], match[3]))
        pending_charset, position, after_word = charset, match.end(), True
    flush()
    pieces.append(value[position:])
    return "".join(pieces)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "qQ":
        return binascii.a2b_qp(text.encode("utf-8", "replace"), header=True)
    cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
    remainder = len(cleaned) % 4
    cleaned = cleaned[:-1] if remainder == 1 else cleaned + "=" * (-remainder % 4)
    return base64.b64decode(cleaned)


# --- Addresses -------------------------------------------------------------------

_ADDR_SPEC = re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+")
_ANGLE = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\(([^()]*)\)")
_GROUP_PREFIX = re.compile(r"^\s*[^\"<>@:,]*:(?!:)")


def parse_address_list(value: str, notes: list[str]) -> list[tuple[str, str]]:
    """(display name, addr-spec) pairs; tolerates unquoted commas and addresses as names."""
    mailboxes = (_parse_mailbox(item, notes) for item in _split_addresses(value))
    return [mailbox for mailbox in mailboxes if mailbox is not None]


def _split_addresses(value: str) -> list[str]:
    items, current = [], []
    quoted = escaped = False
    angle = paren = 0
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"' and not paren:
            quoted = not quoted
        elif not quoted:
            if char == "," and not (angle or paren):
                items.append("".join(current))
                current = []
                continue
            paren += (char == "(") - (char == ")" and paren > 0)
            angle += (char == "<" and not paren) - (char == ">" and angle > 0 and not paren)
        current.append(char)
    items.append("".join(current))
    return _join_split_names([item for item in items if item.strip()])


def _join_split_names(items: list[str]) -> list[str]:
    """'Porcile, M. <m@x.it>' was split at its unquoted comma: glue name parts back on."""
    joined: list[str] = []
    pending = ""
    for item in items:
        if "@" not in item and "<" not in item:
            pending += item + ","
            continue
        joined.append(pending + item)
        pending = ""
    return joined


def _parse_mailbox(item: str, notes: list[str]) -> tuple[str, str] | None:
    item = _GROUP_PREFIX.sub("", item, count=1).strip().rstrip(";").strip()
    angles = [m for m in _ANGLE.finditer(item) if "@" in m[1]]
    if angles:
        last = angles[-1]
        address, name = last[1], item[: last.start()] + item[last.end() :]
    else:
        comments = _COMMENT.findall(item)
        rest = _COMMENT.sub(" ", item)
        found = _ADDR_SPEC.search(rest)
        if found is None:
            return None
        address = found[0]
        name = (rest[: found.start()] + rest[found.end() :]).strip() or " ".join(comments)
    address = address.strip().removeprefix("mailto:").strip().lower()
    if not _ADDR_SPEC.fullmatch(address):
        return None
    return _display_name(name, notes), address


def _display_name(name: str, notes: list[str]) -> str:
    name = name.strip().strip('"').replace('\\"', '"').replace("\\\\", "\\")
    return _storable(" ".join(decode_words(name, "a display name", notes).split()))


def _sender(headers: _Headers) -> tuple[str, str | None]:
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


def _recipients(headers: _Headers) -> tuple[str, ...]:
    values = [*headers.all("to"), *headers.all("cc"), *headers.all("delivered-to")]
    found = (address for value in values for _, address in parse_address_list(value, []))
    return tuple(dict.fromkeys(found))


# --- Ids and dates ---------------------------------------------------------------


def _message_ids(value: str) -> tuple[str, ...]:
    bracketed = [re.sub(r"\s+", "", found) for found in _ANGLE.findall(value)]
    ids = bracketed or [token.strip("<>") for token in value.split() if "@" in token]
    return tuple(dict.fromkeys(found for found in ids if found))


def _first_or_none(ids: tuple[str, ...]) -> str | None:
    return ids[0] if ids else None


def _date(headers: _Headers, notes: list[str]) -> datetime | None:
    value = headers.first("date").strip()
    if not value:
        notes.append("no Date header")
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        notes.append(f"unparseable Date header: {value[:100]!r}")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- MIME structure --------------------------------------------------------------

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
_BOUNDARY_IN_BODY = re.compile(r"^--([^\s\"]{1,200})[ \t]*\r?\n(?=content-)", re.MULTILINE | re.I)


@dataclass(frozen=True)
class _Found:
    name: str | None
    content_type: str
    data: bytes


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[_Found] = field(default_factory=list)

    @classmethod
    def concatenated(cls, bodies: list[_Body]) -> _Body:
        return cls(
            plain=[text for body in bodies for text in body.plain],
            html=[text for body in bodies for text in body.html],
            attachments=[found for body in bodies for found in body.attachments],
        )

    @classmethod
    def alternative(cls, bodies: list[_Body]) -> _Body:
        """Plain text from the first alternative that has it, HTML from the last."""
        plain = next((body.plain for body in bodies if body.plain), [])
        html = next((body.html for body in reversed(bodies) if body.html), [])
        found = [found for body in bodies for found in body.attachments]
        return cls(plain=list(plain), html=list(html), attachments=found)


class _MimeWalker:
    """Walks the part tree; a part that fails is noted and skipped, the rest is kept."""

    def __init__(self, notes: list[str]) -> None:
        self.notes = notes
        self.content_types: list[str] = []

    def walk(self, part: Message, path: str, depth: int = 0) -> _Body:
        body = _Body()
        try:
            body = self._walk_part(part, path, depth)
        except Exception as exc:
            self.notes.append(f"{_where(part, path)} skipped: {type(exc).__name__}: {exc}")
        for defect in getattr(part, "defects", []):
            self.notes.append(_defect_note(defect, part, path))
        return body

    def _walk_part(self, part: Message, path: str, depth: int) -> _Body:
        content_type = part.get_content_type()
        self.content_types.append(content_type)
        if depth > MAX_MIME_DEPTH:
            self.notes.append(
                f"MIME nesting deeper than {MAX_MIME_DEPTH} levels: inner parts skipped"
            )
            return _Body()
        if part.get_content_maintype() == "multipart":
            return self._walk_multipart(part, path, depth)
        is_text = content_type in ("text/plain", "text/html")
        if not is_text or part.get_content_disposition() == "attachment":
            return _Body(attachments=[self._attachment(part, path)])
        text = _part_text(part, _where(part, path), self.notes)
        return _Body(html=[text]) if content_type == "text/html" else _Body(plain=[text])

    def _walk_multipart(self, part: Message, path: str, depth: int) -> _Body:
        children = part.get_payload()
        if not isinstance(children, list):
            children = self._recover_parts(part, path, str(children or ""))
        children = [*children, *self._parts_after_closing_boundary(part, path)]
        bodies = [
            self.walk(child, _child_path(path, i), depth + 1) for i, child in enumerate(children, 1)
        ]
        if part.get_content_subtype() == "alternative":
            return _Body.alternative(bodies)
        return _Body.concatenated(bodies)

    def _recover_parts(self, part: Message, path: str, payload: str) -> list[Message]:
        """The declared boundary never occurs: split at the boundary the body does use."""
        found = _BOUNDARY_IN_BODY.search(payload)
        recovered = _reparse_multipart(part.get_content_type(), found[1], payload) if found else []
        if recovered:
            self.notes.append(
                f"{_where(part, path)}: parts recovered using the boundary found in the body"
            )
        elif payload.strip():
            self.notes.append(
                f"{_where(part, path)}: body not split into parts, kept as attachment"
            )
            data = payload.encode("utf-8", "surrogateescape")
            return [_leaf_message("application/octet-stream", data)]
        return recovered

    def _parts_after_closing_boundary(self, part: Message, path: str) -> list[Message]:
        epilogue = part.epilogue or ""
        boundary = part.get_boundary()
        if not epilogue.strip() or not boundary:
            return []
        recovered = []
        if f"--{boundary}" in epilogue:
            recovered = _reparse_multipart(part.get_content_type(), boundary, epilogue)
        if recovered:
            self.notes.append(f"{_where(part, path)}: parts after the closing boundary recovered")
        else:
            self.notes.append(f"{_where(part, path)}: text after the closing boundary ignored")
        return recovered

    def _attachment(self, part: Message, path: str) -> _Found:
        name = None
        try:
            name = _safe_filename(part.get_filename(), self.notes)
        except Exception as exc:
            self.notes.append(f"{_where(part, path)}: unreadable filename ({type(exc).__name__})")
        if part.get_content_maintype() == "message":
            self._note_nested_defects(part, path)
        return _Found(name=name, content_type=part.get_content_type(), data=_part_bytes(part))

    def _note_nested_defects(self, part: Message, path: str, depth: int = 0) -> None:
        """An attached message is kept as it is, but what is malformed in it is still noted."""
        children = part.get_payload()
        if depth > MAX_MIME_DEPTH or not isinstance(children, list):
            return
        for index, child in enumerate(children, 1):
            child_path = _child_path(path, index)
            for defect in getattr(child, "defects", []):
                self.notes.append(_defect_note(defect, child, child_path))
            self._note_nested_defects(child, child_path, depth + 1)


def _reparse_multipart(content_type: str, boundary: str, body: str) -> list[Message]:
    head = f'Content-Type: {content_type}; boundary="{boundary}"\r\n\r\n'.encode()
    data = head + body.encode("utf-8", "surrogateescape")
    children = BytesParser(policy=email.policy.default).parsebytes(data).get_payload()
    return children if isinstance(children, list) else []


def _leaf_message(content_type: str, data: bytes) -> Message:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    return BytesParser(policy=email.policy.default).parsebytes(head + data)


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
    name = _storable("".join(char for char in name if char >= " " and char != "\x7f")).strip()
    return None if name in ("", ".", "..") else name


def _finish_attachments(found: list[_Found], limit: int) -> tuple[MailAttachment, ...]:
    return tuple(
        MailAttachment(
            name=item.name or f"attachment-{number}",
            content_type=item.content_type,
            size=len(item.data),
            data=item.data if len(item.data) <= limit else None,
        )
        for number, item in enumerate(found, 1)
    )


def _texts(body: _Body, notes: list[str]) -> tuple[str, str | None]:
    """(full plain text, sanitized HTML); the plain text comes from HTML when there is none."""
    html_source = "\n".join(body.html)
    plain = [text.strip("\n") for text in body.plain if text.strip()]
    full_text = "\n\n".join(plain)
    if not plain and html_source.strip():
        full_text = html_to_text(html_source, notes)
    return _storable(full_text), _sanitized_html(html_source, notes) if body.html else None


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
_AUTO_CLOSED_TAGS = frozenset({"p", "li", "td", "th", "tr", "dt", "dd", "option"})
_VOID_TAGS = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr"})
_NOT_NESTING_TAGS = _AUTO_CLOSED_TAGS | _VOID_TAGS


def _sanitized_html(html: str, notes: list[str]) -> str | None:
    """nh3 takes time quadratic in nesting depth, so absurdly deep HTML is not kept."""
    depth = _nesting_depth(html)
    if depth > MAX_HTML_DEPTH:
        notes.append(f"HTML nested {depth} levels deep: not kept, text derived from it")
        return None
    try:
        return nh3.clean(_storable(html), clean_content_tags={"script", "style", "title"})
    except Exception as exc:
        notes.append(f"HTML could not be sanitized and was dropped ({type(exc).__name__})")
        return None


def _nesting_depth(html: str) -> int:
    depth = deepest = 0
    for closing, tag, self_closing in _TAG.findall(html):
        if self_closing or tag.lower() in _NOT_NESTING_TAGS:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        deepest = max(deepest, depth)
    return deepest


# --- Machine mail ----------------------------------------------------------------

_PRECEDENCE_AUTOMATED = frozenset({"bulk", "list", "junk", "auto_reply"})


def _automated(
    headers: _Headers, msg: Message, from_address: str, content_types: list[str]
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


def _auto_submitted_reason(headers: _Headers) -> str | None:
    value = headers.first("auto-submitted").split(";")[0].strip().lower()
    return f"auto-submitted: {value}" if value and value != "no" else None


def _autoreply_header_reason(headers: _Headers) -> str | None:
    """X-Auto-Response-Suppress is not a sign: Exchange puts it on people's mail too."""
    if headers.all("x-autoreply"):
        return "x-autoreply"
    if headers.all("x-autorespond"):
        return "auto-responder (X-Autorespond)"
    return None


def _precedence_reason(headers: _Headers) -> str | None:
    value = headers.first("precedence").strip().lower()
    return f"precedence: {value}" if value in _PRECEDENCE_AUTOMATED else None


def _list_reason(headers: _Headers) -> str | None:
    if headers.all("list-id"):
        return "list mail (List-Id)"
    if headers.all("list-unsubscribe"):
        return "list mail (List-Unsubscribe)"
    return None


# --- HTML to plain text ----------------------------------------------------------

_SKIPPED_TAGS = frozenset({"script", "style", "title", "template"})
_LINE_TAGS = frozenset({"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer"})
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "hr", "blockquote"}
)


class _TextExtractor(HTMLParser):
    """Keeps line breaks and marks <blockquote> lines with '>' so quotes can be split off."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._quote_depth = self._skip_depth = self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open_or_close(tag, opening=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open_or_close(tag, opening=True)

    def handle_endtag(self, tag: str) -> None:
        self._open_or_close(tag, opening=False)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if not self._pre_depth:
            data = re.sub(r"\s+", " ", data)
        self._current.append(data)

    def close(self) -> None:
        super().close()
        self._end_line()

    def _open_or_close(self, tag: str, *, opening: bool) -> None:
        step = 1 if opening else -1
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth + step)
        elif tag == "br" and opening:
            self._end_line(keep_empty=True)
        elif tag in ("td", "th") and opening:
            self._current.append(" ")
        elif tag in _LINE_TAGS:
            self._end_line()
        elif tag in _PARAGRAPH_TAGS:
            self._end_line()
            if not opening:
                self._nest(tag, step)
            if self.lines and self.lines[-1].strip("> "):
                self.lines.append(self._prefix().rstrip())
            if opening:
                self._nest(tag, step)

    def _nest(self, tag: str, step: int) -> None:
        self._quote_depth = max(0, self._quote_depth + step * (tag == "blockquote"))
        self._pre_depth = max(0, self._pre_depth + step * (tag == "pre"))

    def _end_line(self, *, keep_empty: bool = False) -> None:
        text = "".join(self._current)
        self._current = []
        for line in text.split("\n") if self._pre_depth else [text.strip()]:
            if line.strip() or keep_empty:
                self.lines.append(self._prefix() + line.rstrip())

    def _prefix(self) -> str:
        return "> " * min(self._quote_depth, 5)


def html_to_text(html: str, notes: list[str]) -> str:
    extractor = _TextExtractor()
    try:
        extractor.feed(html)
        extractor.close()
        lines = extractor.lines
    except Exception as exc:
        notes.append(f"HTML could not be converted cleanly ({type(exc).__name__}): tags stripped")
        lines = re.sub(r"<[^>]*>", " ", html).splitlines()
    text = "\n".join(line.replace("\xa0", " ").rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# --- What the customer newly wrote -----------------------------------------------

_QUOTED_LINE = re.compile(r"^ {0,3}>")
_ATTRIBUTIONS = (
    re.compile(r"^\s*on\s.*\bwrote\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*am\s.*\bschrieb\b.*:\s*$", re.I | re.S),
    re.compile(r"^\s*le\s.*\ba\s+écrit\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*el\s.*\bescribió\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*il\s.*\bha\s+scritto\s*:\s*$", re.I | re.S),
    re.compile(r"^\s*op\s.*\bschreef\b.*:\s*$", re.I | re.S),
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|messaggio originale|oorspronkelijk bericht)\s*-{2,}\s*$",
    re.I,
)
_OUTLOOK_RULE = re.compile(r"^\s*_{10,}\s*$")
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|von|de|da|van)\s*:\*?\s+\S", re.I)
_OUTLOOK_SENT = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden)\s*:", re.I
)
_SIGNATURE_DASHES = re.compile(r"^-- ?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(sent from my [\w .-]{1,40}|sent from (outlook|mail|yahoo mail) for [\w .-]{1,30}"
    r"|get outlook for (ios|android)|(von meinem|gesendet von meinem) [\w .-]{1,40}"
    r"|envoyé de mon [\w .-]{1,40}|enviado desde mi [\w .-]{1,40}|inviato da[\w .-]{1,40})\s*$",
    re.I,
)


def split_reply(full_text: str) -> str:
    """The new text of a reply: without quoted earlier mail and without the signature.

    Falls back to the whole text when nothing would be left, so a message never looks empty.
    """
    lines = full_text.split("\n")
    kept = [line for line in lines[: _quote_start(lines)] if not _QUOTED_LINE.match(line)]
    kept = kept[: _signature_start(kept)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in kept)).strip()
    return text or full_text.strip()


def _quote_start(lines: list[str]) -> int:
    return next((i for i in range(len(lines)) if _starts_quote(lines, i)), len(lines))


def _starts_quote(lines: list[str], index: int) -> bool:
    line = lines[index]
    if not line.strip():
        return False
    if _ORIGINAL_MESSAGE.match(line):
        return True
    if _OUTLOOK_RULE.match(line):
        return _starts_outlook_header(lines, index + 1)
    if _OUTLOOK_FROM.match(line):
        return _starts_outlook_header(lines, index)
    following = [later for later in lines[index + 1 : index + 4] if later.strip()]
    for length in (1, 2, 3):
        candidate = " ".join([line, *lines[index + 1 : index + length]])
        if len(candidate) < 400 and any(pattern.match(candidate) for pattern in _ATTRIBUTIONS):
            return True
    ends_like_attribution = (
        len(line) < 400 and re.search(r"\b(wrote|schrieb)\b.*:\s*$", line, re.I) is not None
    )
    return ends_like_attribution and bool(following) and bool(_QUOTED_LINE.match(following[0]))


def _starts_outlook_header(lines: list[str], index: int) -> bool:
    """A From: line followed within a few lines by Sent: (or Date:), as Outlook quotes."""
    if index >= len(lines) or not _OUTLOOK_FROM.match(lines[index]):
        return False
    return any(_OUTLOOK_SENT.match(later) for later in lines[index + 1 : index + 5])


def _signature_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if _SIGNATURE_DASHES.match(line) or (len(line) < 80 and _MOBILE_FOOTER.match(line)):
            return index
    return len(lines)
