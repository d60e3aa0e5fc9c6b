"""Threading tokens: replies find their conversation; forged or altered tokens do not."""

from __future__ import annotations

from connectors.email.thread_tokens import (
    answered_conversation,
    base_address,
    conversation_of_address,
    conversation_of_message_id,
    message_id_for,
    reply_address,
)

KEY = b"k" * 32


def test_our_message_id_names_its_conversation():
    mid = message_id_for(KEY, 42, 7, "shop.example")
    assert conversation_of_message_id(KEY, mid) == 42
    assert conversation_of_message_id(b"other key" * 4, mid) is None
    forged = mid.replace("hub.c42.", "hub.c43.")
    assert conversation_of_message_id(KEY, forged) is None
    assert conversation_of_message_id(KEY, "CAF3@mail.gmail.com") is None


def test_reply_address_names_its_conversation_and_delivers_to_the_mailbox():
    address = reply_address(KEY, 42, "support@shop.example")
    assert address.startswith("support+c42.")
    assert conversation_of_address(KEY, address) == 42
    assert conversation_of_address(KEY, address.replace("+c42.", "+c41.")) is None
    assert base_address(address) == "support@shop.example"


def test_references_win_over_the_address_and_the_newest_reference_wins():
    old = message_id_for(KEY, 1, 1, "shop.example")
    new = message_id_for(KEY, 2, 5, "shop.example")
    to = (reply_address(KEY, 3, "support@shop.example"),)
    assert answered_conversation(KEY, (old, "x@y", new), to) == 2
    assert answered_conversation(KEY, ("x@y",), to) == 3
    assert answered_conversation(KEY, (), ("support@shop.example",)) is None
