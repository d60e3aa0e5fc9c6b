"""A long message cut into the parts a platform takes (Telegram's 4096, Slack's blocks,
Twilio's 1600)."""

from __future__ import annotations


def utf16_length(text: str) -> int:
    """Telegram, Slack and Twilio count message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _window(text: str, limit: int) -> int:
    """How many characters of ``text`` fit in ``limit`` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int) -> list[str]:
    """Parts of at most ``limit``, cut at a paragraph, else a line, else a space, else anywhere."""
    parts: list[str] = []
    rest = text.strip()
    while utf16_length(rest) > limit:
        window = _window(rest, limit)
        cut = next(
            (
                at
                for separator in ("\n\n", "\n", " ")
                if (at := rest.rfind(separator, 0, window + 1)) > window // 2
            ),
            window,
        )
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts
