"""SMS segment counts as carriers bill them: GSM-7 160/153, extension characters two
septets, anything else UCS-2 70/67 in UTF-16 code units, no pair split across parts."""

from __future__ import annotations

import pytest

from connectors.twilio.segments import GSM7, UCS2, Segments, count_segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Segments(GSM7, 0, 0, 160, 160)),
        ("Hello!", Segments(GSM7, 1, 6, 160, 154)),
        ("a" * 160, Segments(GSM7, 1, 160, 160, 0)),
        ("a" * 161, Segments(GSM7, 2, 161, 153, 145)),
        ("a" * 306, Segments(GSM7, 2, 306, 153, 0)),
        ("a" * 307, Segments(GSM7, 3, 307, 153, 152)),
        ("Grüße aus Köln, 5 €", Segments(GSM7, 1, 20, 160, 140)),
        ("{" * 80, Segments(GSM7, 1, 160, 160, 0)),
        ("{" * 81, Segments(GSM7, 2, 162, 153, 143)),
        ("a" * 152 + "€", Segments(GSM7, 1, 154, 160, 6)),
        ("a" * 159 + "ç", Segments(UCS2, 3, 160, 67, 41)),
        ("ok 👍", Segments(UCS2, 1, 5, 70, 65)),
        ("Привет" * 11 + "ab", Segments(UCS2, 1, 68, 70, 2)),
        ("x" * 70, Segments(GSM7, 1, 70, 160, 90)),
        ("ж" * 71, Segments(UCS2, 2, 71, 67, 63)),
        ("ж" * 66 + "😀" + "ж" * 10, Segments(UCS2, 2, 78, 67, 55)),
        ("😀" * 35, Segments(UCS2, 1, 70, 70, 0)),
    ],
)
def test_segments_are_counted_as_carriers_count_them(text: str, expected: Segments):
    assert count_segments(text) == expected


def test_an_extension_character_at_a_part_boundary_moves_whole_to_the_next_part():
    """152 septets then an escape pair: the pair cannot straddle 153, so the part ends at 152."""
    assert count_segments("a" * 152 + "€" + "a" * 151).count == 2
    assert count_segments("a" * 152 + "€" + "a" * 152).count == 3


def test_one_character_outside_gsm7_makes_the_whole_text_ucs2():
    gsm = count_segments("Price: 10 EUR, thanks a lot " * 5)
    emoji = count_segments("Price: 10 EUR, thanks a lot " * 5 + "🙂")
    assert (gsm.encoding, gsm.count) == (GSM7, 1)
    assert (emoji.encoding, emoji.count) == (UCS2, 3)
