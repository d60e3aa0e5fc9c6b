"""Phone numbers as one spelling (E.164), so a person is one ``phone`` identity whichever
channel brought the number: SMS, WhatsApp or a system posting to an API channel."""

from __future__ import annotations

import phonenumbers

IDENTITY_KIND = "phone"


def e164(number: str) -> str | None:
    """``+<country code><number>`` for a number written with its country code
    (``+49 151 2345-6789``); ``None`` for anything else (a national ``0151...`` too)."""
    try:
        parsed = phonenumbers.parse(number.strip(), None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_address(address: str) -> str:
    """The address a ``phone`` identity is stored under: E.164 when it is a number, else
    as it came (a gateway's own id for a sender), so nothing that worked before is refused."""
    return e164(address) or address.strip()
