"""The ``message.status`` event: a sent message's state, told to the agents who see it.

The outbox emits it when it records a send (or a retry, or a failure) and
hub/receipts.py when a platform's receipt arrives. Both carry what the inbox
shows under the message from its meta, so a receipt that outran the record of
its send, and a WhatsApp template that left in place of the text, show live.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def status_payload(
    message_id: int, state: str, error: str | None, meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The event's data: ``receipt`` and ``receipt_at`` are the last receipt's (or null)."""
    receipt = (meta or {}).get("receipt") or {}
    return {
        "message_id": message_id,
        "state": state,
        "error": error,
        "receipt": receipt.get("state"),
        "receipt_at": receipt.get("at"),
        "sent_instead": (meta or {}).get("sent_instead"),
    }
