"""The one secret check (connectors/secret_check.py) and the places that use it."""

from __future__ import annotations

from connectors.email.thread_tokens import conversation_of_address
from connectors.secret_check import bearer_token, same_secret
from connectors.webchat.protocol import issue_token, visitor_of

KEY = b"k" * 32


def test_only_the_expected_secret_matches() -> None:
    assert same_secret("s3cret-token", "s3cret-token")
    assert not same_secret("s3cret-tokem", "s3cret-token")
    assert not same_secret("", "s3cret-token")
    assert not same_secret(None, "s3cret-token")


def test_a_secret_never_set_matches_nothing_not_even_nothing() -> None:
    assert not same_secret("", "")
    assert not same_secret("", None)
    assert not same_secret(None, None)


def test_bearer_token_reads_only_a_bearer_header() -> None:
    assert bearer_token({"Authorization": "Bearer abc "}) == "abc"
    assert bearer_token({"Authorization": "bearer abc"}) == "abc"
    assert bearer_token({"Authorization": "Basic abc"}) == ""
    assert bearer_token({}) == ""


def test_hostile_non_ascii_signatures_are_refused_not_crashed_on() -> None:
    """``hmac.compare_digest`` raises TypeError for non-ASCII str; a widget or a mail could
    present one (a token from the browser's storage, a reply address's signature)."""
    visitor, token = issue_token(KEY)
    assert visitor_of(KEY, token) == visitor
    assert visitor_of(KEY, f"{visitor}.é{token.partition('.')[2][1:]}") is None
    assert not same_secret("ümlaut", "umlaut")
    assert conversation_of_address(KEY, "support+c7.é@shop.example") is None
