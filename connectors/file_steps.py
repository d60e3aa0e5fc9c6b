"""A reply with files as the messages it leaves as, for platforms that send each file as
a message of its own with an optional caption (WhatsApp, Telegram).

The text is the first file's caption when it fits and that file can carry one; else it
leaves first, in parts. ``Delivery.parts_sent`` counts the steps the platform took, so
a retry continues after them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connectors.base import Attachment
from connectors.text_parts import split_text, utf16_length


@dataclass(frozen=True)
class Step:
    """One message of a reply: a part of its text, or a file (its index) with a caption."""

    text: str | None = None
    file: int | None = None
    caption: str | None = None


def steps_of(
    text: str,
    files: Sequence[Attachment],
    max_text: int,
    max_caption: int,
    takes_caption: Callable[[Attachment], bool] = lambda _: True,
) -> list[Step]:
    """The messages a reply leaves as, in order."""
    fits = utf16_length(text) <= max_caption  # Telegram counts UTF-16 units, as for text
    captioned = bool(files and text and fits and takes_caption(files[0]))
    steps = [] if captioned else [Step(text=part) for part in split_text(text, max_text)]
    steps += [
        Step(file=index, caption=text if captioned and index == 0 else None)
        for index in range(len(files))
    ]
    return steps
