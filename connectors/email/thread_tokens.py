"""Threading tokens: which conversation a reply belongs to, proven by our own signature.

Outbound mail carries a Message-ID and a Reply-To address that name the
conversation and are signed with the hub's key, so a reply (by its
In-Reply-To/References, or by the address it was sent to) finds its
conversation, and nobody can steer mail into another customer's thread by
guessing numbers. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from connectors.secret_check import same_secret

SIGNATURE_CHARS = 12
MESSAGE_ID = re.compile(r"^hub\.c(\d+)\.m(\d+)\.([0-9a-f]+)@", re.IGNORECASE)
REPLY_ADDRESS = re.compile(r"^[^@+]+\+c(\d+)\.([0-9a-f]+)@", re.IGNORECASE)


def _sign(key: bytes, text: str) -> str:
    return hmac.new(key, f"email-thread:{text}".encode(), hashlib.sha256).hexdigest()[
        :SIGNATURE_CHARS
    ]


def message_id_for(key: bytes, conversation_id: int, message_id: int, domain: str) -> str:
    """Our Message-ID for an outbound message (without angle brackets)."""
    signature = _sign(key, f"c{conversation_id}.m{message_id}")
    return f"hub.c{conversation_id}.m{message_id}.{signature}@{domain}"


def reply_address(key: bytes, conversation_id: int, mailbox: str) -> str:
    """``support@shop.example`` becomes ``support+c42.<signature>@shop.example``."""
    local, _, domain = mailbox.partition("@")
    return f"{local}+c{conversation_id}.{_sign(key, f'c{conversation_id}')}@{domain}"


def conversation_of_message_id(key: bytes, message_id: str) -> int | None:
    found = MESSAGE_ID.match(message_id)
    if found is None:
        return None
    conversation, message, signature = found.groups()
    expected = _sign(key, f"c{conversation}.m{message}")
    return int(conversation) if same_secret(signature.lower(), expected) else None


def conversation_of_address(key: bytes, address: str) -> int | None:
    found = REPLY_ADDRESS.match(address)
    if found is None:
        return None
    conversation, signature = found.groups()
    expected = _sign(key, f"c{conversation}")
    return int(conversation) if same_secret(signature.lower(), expected) else None


def answered_conversation(
    key: bytes, references: tuple[str, ...], recipients: tuple[str, ...]
) -> int | None:
    """The conversation a reply names: by its references (newest first), else its address."""
    for reference in reversed(references):
        if (conversation := conversation_of_message_id(key, reference)) is not None:
            return conversation
    for recipient in recipients:
        if (conversation := conversation_of_address(key, recipient)) is not None:
            return conversation
    return None


def base_address(address: str) -> str:
    """``support+c42.abc@shop.example`` is delivered to ``support@shop.example``."""
    local, _, domain = address.lower().partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"
