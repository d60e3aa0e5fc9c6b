"""Who a customer is: their identities, what proved each one, and what they only claim.

An address becomes a customer's identity only with proof (``connectors.base.Proof``):
the channel authenticated the sender, the embedding site signed it, a one-time code
was entered, mail passed authentication, or a person linked it. Anything else is a
*claim*: kept in ``identity_claims``, shown to agents, never linked. So a visitor
who types someone's address gets a customer of their own, and cannot squat the
address either: the real owner's later messages create or reach the real customer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from config.schema import ApiChannel, ChannelSettings
from connectors.base import Address, Proof
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import customers, identities, identity_claims
from hub.errors import Forbidden
from hub.serialize import iso

LINK_PROOFS = frozenset({Proof.WORKSPACE, Proof.SYSTEM, Proof.SIGNED, Proof.CODE, Proof.PERSON})
"""Proofs that linked an address to a person (rather than a channel vouching for its own
sender): such an identity is the person's on every channel of its kind."""

IDENTITY_HOLDER = Prepared(
    select(identities.c.customer_id, identities.c.verified_by).where(
        identities.c.kind == bindparam("kind"), identities.c.address == bindparam("address")
    )
)
"""The customer an identity belongs to, and what proved it."""
CREATE_CUSTOMER = Prepared(
    insert(customers)
    .values(name=bindparam("name"), created_at=bindparam("created_at"))
    .returning(customers.c.id)
)
ADD_IDENTITY = Prepared(
    insert(identities).values(
        {
            name: bindparam(name)
            for name in (
                "customer_id",
                "kind",
                "address",
                "display_name",
                "last_channel",
                "first_channel",
                "verified_by",
                "created_at",
            )
        }
    )
)


def customer_of(conn: Connection, address: Address) -> int | None:
    """The customer whose identity ``address`` is, if it is known."""
    return IDENTITY_HOLDER.scalar(conn, kind=address.kind, address=address.address)


def holder_of(conn: Connection, address: Address) -> tuple[int, str | None] | None:
    """The customer whose identity ``address`` is, and what proved it; ``None``: nobody's."""
    row = IDENTITY_HOLDER.first(conn, kind=address.kind, address=address.address)
    return None if row is None else (row[0], row[1])


def create_customer(tx: Tx, name: str) -> int:
    return CREATE_CUSTOMER.scalar(tx.conn, name=name.strip()[:200], created_at=tx.now)


def add_identity(
    tx: Tx,
    customer_id: int,
    address: Address,
    *,
    display_name: str | None,
    channel: str | None,
    proof: Proof | None,
    sent_on_channel: bool,
) -> None:
    """Give ``customer_id`` the identity ``address``; ``sent_on_channel``: the sender's own."""
    ADD_IDENTITY.run(
        tx.conn,
        customer_id=customer_id,
        kind=address.kind,
        address=address.address,
        display_name=display_name,
        last_channel=channel if sent_on_channel else None,
        first_channel=channel,
        verified_by=proof,
        created_at=tx.now,
    )


def confirm(tx: Tx, customer_id: int, address: Address, proof: Proof) -> None:
    """Record ``proof`` for an identity nothing had proven yet; its claims are settled."""
    tx.conn.execute(
        update(identities)
        .where(
            identities.c.kind == address.kind,
            identities.c.address == address.address,
            identities.c.verified_by.is_(None),
        )
        .values(verified_by=proof)
    )
    settle_claims(tx, customer_id, [address])


def identity_pools(channels: Iterable[ChannelSettings]) -> dict[str, frozenset[str]]:
    """For each API channel, the channels whose senders it may write as.

    Every other kind of channel has its platform's one namespace of users, so it
    is not listed (no restriction).
    """
    api = [channel for channel in channels if isinstance(channel, ApiChannel)]
    sharing = frozenset(channel.name for channel in api if channel.share_identities)
    return {
        channel.name: sharing if channel.share_identities else frozenset({channel.name})
        for channel in api
    }


def check_may_speak_for(
    channel: str,
    address: Address,
    first_channel: str | None,
    proof: str | None,
    pool: frozenset[str] | None,
) -> None:
    """Refuse a channel that would write as an identity another channel vouched for.

    ``pool``: the channels whose identities ``channel`` may use (``None``: any, as for
    platforms with one namespace of users). An identity linked with proof
    (``LINK_PROOFS``) may be used by every channel of its kind.
    """
    if pool is None or first_channel in pool or proof in LINK_PROOFS:
        return
    raise Forbidden(
        f"channel {channel} may not write as {address.kind} {address.address}: that identity "
        f"came from channel {first_channel or 'unknown'} (set share_identities on both "
        "channels to let them share customers)",
        identity=f"{address.kind}:{address.address}",
    )


# --- claims -------------------------------------------------------------------------------


def record_claims(
    tx: Tx, customer_id: int, claimed: tuple[Address, ...], channel: str, reason: str
) -> None:
    """Keep what the customer says they are, once per address; their own identities aside."""
    for address in claimed:
        if customer_of(tx.conn, address) == customer_id or has_claim(tx, customer_id, address):
            continue
        tx.conn.execute(
            insert(identity_claims).values(
                customer_id=customer_id,
                kind=address.kind,
                address=address.address,
                channel=channel,
                reason=reason,
                created_at=tx.now,
            )
        )


def has_claim(tx: Tx, customer_id: int, address: Address) -> bool:
    return (
        tx.conn.execute(
            select(identity_claims.c.id).where(
                identity_claims.c.customer_id == customer_id,
                identity_claims.c.kind == address.kind,
                identity_claims.c.address == address.address,
            )
        ).first()
        is not None
    )


def settle_claims(tx: Tx, customer_id: int, addresses: list[Address]) -> None:
    """The customer's claims to these addresses are proven now: drop them."""
    for address in addresses:
        tx.conn.execute(
            delete(identity_claims).where(
                identity_claims.c.customer_id == customer_id,
                identity_claims.c.kind == address.kind,
                identity_claims.c.address == address.address,
            )
        )


def move_claims(tx: Tx, from_customer: int, to_customer: int) -> None:
    """A merge: the merged customer's claims go along, except those now moot."""
    kept = identity_claims.alias("kept")
    tx.conn.execute(
        delete(identity_claims).where(
            identity_claims.c.customer_id == from_customer,
            select(kept.c.id)
            .where(
                kept.c.customer_id == to_customer,
                kept.c.kind == identity_claims.c.kind,
                kept.c.address == identity_claims.c.address,
            )
            .exists()
            | select(identities.c.id)
            .where(
                identities.c.customer_id == to_customer,
                identities.c.kind == identity_claims.c.kind,
                identities.c.address == identity_claims.c.address,
            )
            .exists(),
        )
    )
    tx.conn.execute(
        update(identity_claims)
        .where(identity_claims.c.customer_id == from_customer)
        .values(customer_id=to_customer)
    )


def disputed_customer(tx: Tx, address: Address, name: str | None) -> int:
    """The customer for mail whose From failed authentication: one per disputed address.

    Mail that fails again from the same address joins the same claims-only
    customer, so agents see one thread, still apart from the address's customer.
    """
    existing = tx.conn.execute(
        select(identity_claims.c.customer_id)
        .where(
            identity_claims.c.kind == address.kind,
            identity_claims.c.address == address.address,
            identity_claims.c.reason == "unauthenticated",
            ~select(identities.c.id)
            .where(identities.c.customer_id == identity_claims.c.customer_id)
            .exists(),
        )
        .order_by(identity_claims.c.id.desc())
        .limit(1)
    ).scalar()
    if existing is not None:
        return existing
    return create_customer(tx, name or address.address)


def claims_json(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """The customer's claims, each with the customer who holds that identity, if any."""
    holder = customers.alias("holder")
    rows = conn.execute(
        select(
            identity_claims.c.kind,
            identity_claims.c.address,
            identity_claims.c.channel,
            identity_claims.c.reason,
            identity_claims.c.created_at,
            holder.c.id.label("holder_id"),
            holder.c.name.label("holder_name"),
        )
        .outerjoin(
            identities,
            and_(
                identities.c.kind == identity_claims.c.kind,
                identities.c.address == identity_claims.c.address,
            ),
        )
        .outerjoin(holder, holder.c.id == identities.c.customer_id)
        .where(identity_claims.c.customer_id == customer_id)
        .order_by(identity_claims.c.id)
    )
    return [
        {
            "kind": row.kind,
            "address": row.address,
            "channel": row.channel,
            "reason": row.reason,
            "at": iso(row.created_at),
            "holder": {"id": row.holder_id, "name": row.holder_name} if row.holder_id else None,
        }
        for row in rows
    ]
