"""The messages a reply with files leaves as (pure): the text as the first file's caption
when it fits, counted in UTF-16 units as the platforms count, else the text first."""

from __future__ import annotations

from connectors.base import Attachment
from connectors.file_steps import Step, steps_of

PHOTO = Attachment("photo.jpg", "image/jpeg", 3, b"abc")


def test_a_short_text_is_the_first_files_caption():
    assert steps_of("Hier", [PHOTO, PHOTO], 4096, 1024) == [
        Step(file=0, caption="Hier"),
        Step(file=1),
    ]


def test_a_caption_is_measured_in_utf16_units_not_characters():
    emoji = "\U0001f600" * 600  # 600 characters, 1,200 UTF-16 units
    assert steps_of(emoji, [PHOTO], 4096, 1024) == [Step(text=emoji), Step(file=0)]
    assert steps_of(emoji, [PHOTO], 4096, 1200) == [Step(file=0, caption=emoji)]


def test_a_file_that_takes_no_caption_goes_after_the_text():
    assert steps_of("Hör mal", [PHOTO], 4096, 1024, takes_caption=lambda _: False) == [
        Step(text="Hör mal"),
        Step(file=0),
    ]
