"""Phone identities in E.164 (the phonenumbers library), whichever channel brought them."""

from __future__ import annotations

import pytest

from connectors.phone import e164, phone_address


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("+4915123456789", "+4915123456789"),
        ("+49 151 2345-6789", "+4915123456789"),
        ("+1 (415) 555-0123", "+14155550123"),
        (" +44 7700 900123 ", "+447700900123"),
        ("0151 23456789", None),  # national: the country is unknown
        ("555", None),
        ("+1415555012", None),  # too short for the North American plan
        ("lena@example.org", None),
    ],
)
def test_numbers_with_a_country_code_become_e164(written: str, expected: str | None):
    assert e164(written) == expected


def test_an_address_that_is_no_number_is_kept_as_it_came():
    assert phone_address("+49 151 2345-6789") == "+4915123456789"
    assert phone_address(" gateway-user-7 ") == "gateway-user-7"
