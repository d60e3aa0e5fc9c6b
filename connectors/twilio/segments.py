"""How many SMS a text costs, counted the way carriers count (3GPP TS 23.038 and 23.040).

Pure: the composer shows the count before an agent sends. A text that fits the
GSM 7-bit alphabet goes as GSM-7, where each character is one septet and those of
the extension table (``^{}[]~|\\€`` and form feed) are two (an escape and the
character); any other character makes the whole text UCS-2, counted in UTF-16
code units. A single SMS holds 160 septets or 70 units; a longer text is sent in
parts that each lose room to the concatenation header: 153 septets or 67 units,
and a part never ends inside an escape pair or a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
SINGLE = {GSM7: 160, UCS2: 70}
"""Units one SMS holds."""
PART = {GSM7: 153, UCS2: 67}
"""Units each part of a concatenated SMS holds."""


@dataclass(frozen=True)
class Segments:
    encoding: str
    """``GSM-7`` or ``UCS-2``."""
    count: int
    """SMS the text is sent as (0 for an empty text)."""
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    per_segment: int
    """Units one segment holds at this length (160/153 or 70/67)."""
    left: int
    """Units still free in the last segment before another one is needed."""


def is_gsm7(text: str) -> bool:
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text)


def unit_sizes(text: str, encoding: str) -> list[int]:
    """Each character's size in the encoding's units (an extension char or an astral one: 2)."""
    if encoding == GSM7:
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def pack(sizes: list[int], room: int) -> tuple[int, int]:
    """Parts of ``room`` units the sizes fill in order, none split: (parts, units in the last)."""
    parts, used = 1, 0
    for size in sizes:
        if used + size > room:
            parts, used = parts + 1, 0
        used += size
    return parts, used


def count_segments(text: str) -> Segments:
    """The encoding, the SMS count and the room left for ``text``."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    sizes = unit_sizes(text, encoding)
    units = sum(sizes)
    if units == 0:
        return Segments(encoding, 0, 0, SINGLE[encoding], SINGLE[encoding])
    if units <= SINGLE[encoding]:
        return Segments(encoding, 1, units, SINGLE[encoding], SINGLE[encoding] - units)
    parts, last = pack(sizes, PART[encoding])
    return Segments(encoding, parts, units, PART[encoding], PART[encoding] - last)
