"""A message whose external id is stored already: a redelivery, or another message reusing it.

Platforms redeliver (an SMTP client that missed the 250, an IMAP mailbox read
again), so a stored (channel, external id) is answered with the stored message.
But some senders reuse ids (a mailer giving every mail one Message-ID): where
the connector digests what a message says (``InboundMessage.content_digest``)
and the digests differ, the message is stored apart under an id of its own,
marked in its meta with the id it came with and the message that has it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import bindparam, select

from connectors.base import InboundMessage, IngestResult
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import conversations, messages

DIGEST = "digest"
"""The meta key a message's ``content_digest`` is kept under."""
REUSED = "reused_id"
"""The meta key of a message stored apart: ``{"external_id", "message_id"}`` of the first."""
MAX_EXTERNAL_ID = messages.c.external_id.type.length or 255
DIGEST_CHARS = 16

# Every inbound repeat runs this, so it is prepared (see hub/db/prepared.py).
STORED = Prepared(
    select(
        messages.c.id,
        messages.c.conversation_id,
        conversations.c.customer_id,
        messages.c.meta,
    )
    .join(conversations, conversations.c.id == messages.c.conversation_id)
    .where(
        messages.c.channel == bindparam("channel"),
        messages.c.external_id == bindparam("external_id"),
    )
)


@dataclass(frozen=True)
class Reused:
    """Another message with a stored one's external id: ``message`` is it under its own."""

    message: InboundMessage
    first_id: int


def repeat_or_reuse(tx: Tx, message: InboundMessage) -> IngestResult | Reused | None:
    """The stored message ``message`` repeats, or ``message`` to store apart (``Reused``);
    ``None`` when its external id is not stored."""
    stored = STORED.first(tx.conn, channel=message.channel, external_id=message.external_id)
    if stored is None:
        return None
    first_id, conversation_id, customer_id, meta = stored
    if says_the_same(meta, message.content_digest):
        return IngestResult(first_id, conversation_id, customer_id, duplicate=True)
    apart = stored_apart(message, first_id)
    again = STORED.first(tx.conn, channel=apart.channel, external_id=apart.external_id)
    if again is not None:
        return IngestResult(*again[:3], duplicate=True)
    return Reused(apart, first_id)


def says_the_same(meta: Mapping[str, Any] | None, digest: str | None) -> bool:
    """Without a digest on either side (a channel that gives none, a message stored before
    digests were kept) the external id alone decides, as it always did."""
    stored = (meta or {}).get(DIGEST)
    return stored is None or digest is None or stored == digest


def stored_apart(message: InboundMessage, first_id: int) -> InboundMessage:
    """``message`` under an id of its own, derived from its digest (so its own redelivery
    is a repeat again), marked with the id it came with."""
    assert message.content_digest is not None
    suffix = f"#{message.content_digest[:DIGEST_CHARS]}"
    own_id = message.external_id[: MAX_EXTERNAL_ID - len(suffix)] + suffix
    mark = {"external_id": message.external_id, "message_id": first_id}
    return replace(message, external_id=own_id, meta={**message.meta, REUSED: mark})


def platform_id(external_id: str | None, meta: Mapping[str, Any]) -> str | None:
    """The id the platform gave a stored customer message (for threading replies to it)."""
    reused = meta.get(REUSED)
    return reused["external_id"] if reused else external_id
