"""Header values as text: RFC 2047 encoded words, address lists, message ids and the date.

Every helper tolerates what real mailers send and notes what it had to repair.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime

from connectors.email.charsets import decode_bytes, decode_guess, storable

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATE = re.compile("[\udc80-\udcff]")


class Headers:
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
        return storable(decode_words(self.first(name), f"{name.title()} header", self.notes))

    def _eight_bit(self, name: str, value: str) -> str:
        if not _SURROGATE.search(value):
            return value
        self.notes.append(f"unencoded 8-bit characters in the {name.title()} header")
        return decode_guess(value.encode("utf-8", "surrogateescape"))


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
    return storable(" ".join(decode_words(name, "a display name", notes).split()))


def recipients(headers: Headers) -> tuple[str, ...]:
    values = [*headers.all("to"), *headers.all("cc"), *headers.all("delivered-to")]
    found = (address for value in values for _, address in parse_address_list(value, []))
    return tuple(dict.fromkeys(found))


# --- Ids and dates ---------------------------------------------------------------


def message_ids(value: str) -> tuple[str, ...]:
    bracketed = [re.sub(r"\s+", "", found) for found in _ANGLE.findall(value)]
    ids = bracketed or [token.strip("<>") for token in value.split() if "@" in token]
    return tuple(dict.fromkeys(found for found in ids if found))


def sent_date(headers: Headers, notes: list[str]) -> datetime | None:
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


def offset_zone(sent: datetime | None) -> str | None:
    """The fixed-offset zone the Date header was written in ("+0100": "Etc/GMT-1"), as a hint.

    Whole hours other than zero only: "-0000" (offset unknown) reads as UTC, and
    IANA has no zone for "+0530". The IANA names count the other way round.
    """
    offset = sent.utcoffset() if sent is not None else None
    if not offset:
        return None
    hours, rest = divmod(offset, timedelta(hours=1))
    if rest or not -12 <= hours <= 14:
        return None
    return f"Etc/GMT{-hours:+d}"
