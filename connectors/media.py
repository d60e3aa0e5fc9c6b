"""Media types as platforms declare them, made safe for headers."""

from __future__ import annotations

import re

MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


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
