"""Media types as platforms declare them, made safe for headers; files a channel will not send."""

from __future__ import annotations

import re
from dataclasses import dataclass

MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
UNKNOWN_MEDIA_TYPE = "application/octet-stream"
MB = 1024 * 1024


def safe_media_type(declared: str) -> str:
    """``type/subtype`` of what a sender declared, or octet-stream when it is no media type.

    Platforms pass on what their users sent (a Telegram ``mime_type`` can hold
    line breaks); the value ends up in headers, so only RFC 6838 names pass.
    """
    media_type = declared.partition(";")[0].strip().lower()
    return media_type if MEDIA_TYPE.fullmatch(media_type) else UNKNOWN_MEDIA_TYPE


def readable_size(size: int) -> str:
    """A file size as people read it: ``5 MB``, ``1.5 MB``, ``900 KB``, ``12 bytes``."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            amount = size / factor
            return f"{amount:.0f} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True)
class FileRefusal:
    """Why a channel will not send a file, in words: too large for it (413), or of a type it
    does not send (422)."""

    reason: str
    too_large: bool = False


def size_refusal(size: int, limit: int, sender: str) -> FileRefusal | None:
    """A file of ``size`` refused when over ``limit``; ``sender`` is who sends up to it
    ("WhatsApp sends image files")."""
    if size <= limit:
        return None
    reason = f"it is {readable_size(size)} and {sender} up to {readable_size(limit)}"
    return FileRefusal(reason, too_large=True)
