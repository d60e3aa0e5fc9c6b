"""What a mail body says: HTML made safe or plain, and the part of a reply that is new.

Pure text transformations; none of them looks at MIME structure or headers.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

from connectors.email.charsets import storable

MAX_HTML_DEPTH = 1000


# --- Sanitized HTML --------------------------------------------------------------

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
_AUTO_CLOSED_TAGS = frozenset({"p", "li", "td", "th", "tr", "dt", "dd", "option"})
_VOID_TAGS = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr"})
_NOT_NESTING_TAGS = _AUTO_CLOSED_TAGS | _VOID_TAGS


def sanitized_html(html: str, notes: list[str]) -> str | None:
    """nh3 takes time quadratic in nesting depth, so absurdly deep HTML is not kept."""
    depth = _nesting_depth(html)
    if depth > MAX_HTML_DEPTH:
        notes.append(f"HTML nested {depth} levels deep: not kept, text derived from it")
        return None
    try:
        return nh3.clean(storable(html), clean_content_tags={"script", "style", "title"})
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
