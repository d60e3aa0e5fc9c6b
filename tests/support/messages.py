"""Inbound messages the tests feed to ``hub.ingest``."""

from __future__ import annotations

from typing import Any

from connectors.base import Address, InboundMessage, Link, Proof


def chat(visitor: str, external_id: str, text: str = "hello", **extra: Any) -> InboundMessage:
    """A web chat message from ``visitor``."""
    return InboundMessage(
        channel="webchat",
        external_id=external_id,
        sender=Address("webchat", visitor),
        text=text,
        **extra,
    )


def proven(kind: str, address: str, proof: Proof = Proof.SIGNED) -> tuple[Link, ...]:
    """An identity the sender proved (as the embedding site's signature does), for ``linked``."""
    return (Link(Address(kind, address), proof),)
