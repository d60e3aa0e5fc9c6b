"""Search snippets: the passage of a text around the searched words, the words marked, and
the marked text as the plain-text parts ``GET /api/search`` answers."""

from __future__ import annotations

import re
from typing import Any

MARK, UNMARK = "\ue000", "\ue001"
"""Around matched words: private-use characters, parsed into parts here, so the page renders
plain text and marks (never HTML made from what customers wrote)."""
WORDS = re.compile(r"[^\W_]+")


def snippet_parts(marked: str) -> list[dict[str, Any]]:
    """``a \\ue000b\\ue001 c`` -> the parts ``a ``, ``b`` (matched) and `` c``."""
    parts = []
    for index, piece in enumerate(re.split(f"[{MARK}{UNMARK}]", marked)):
        if piece:
            parts.append({"text": piece, "match": index % 2 == 1})
    return parts


def marked_passage(text: str | None, terms: tuple[str, ...], words: int = 0) -> str | None:
    """``text`` with the searched words between marks, cut to ``words`` words around the first
    (0: whole), as FTS5's snippet() does; None if no word is in it.

    PostgreSQL's ts_headline would drop what its parser takes for HTML tags."""
    wanted = {word.casefold() for term in terms for word in WORDS.findall(term)}
    found = list(WORDS.finditer(text or ""))
    first = next((i for i, m in enumerate(found) if m.group().casefold() in wanted), None)
    if text is None or first is None:
        return None
    low = max(0, first - words // 3) if words else 0
    high = min(len(found), low + words) if words else len(found)
    start = found[low].start() if low else 0
    end = found[high - 1].end() if high < len(found) else len(text)
    pieces, at = ["…" if start else ""], start
    for match in found[low:high]:
        if match.group().casefold() in wanted:
            pieces += [text[at : match.start()], MARK, match.group(), UNMARK]
            at = match.end()
    pieces += [text[at:end], "…" if end < len(text) else ""]
    return "".join(pieces)
