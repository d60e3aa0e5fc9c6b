"""Linking with proof: a sender joins the customer that a proven address of theirs names.

Used by ingest (a Slack profile email, an identity the embedding site signed) and by
web chat verification (a one-time code entered, a signed identity on hello).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from connectors.base import Address, Link, Proof
from hub.customers import merge_customers
from hub.db.database import Tx
from hub.db.schema import identities
from hub.identities import add_identity, confirm, create_customer, holder_of, settle_claims


@dataclass(frozen=True)
class Linked:
    customer_id: int
    conflict: Address | None = None
    """A proven address that belongs to another established customer: nothing was merged."""


def link_proven(
    tx: Tx,
    sender: Address,
    sender_name: str | None,
    channel: str,
    links: tuple[Link, ...],
    current: int | None,
) -> Linked:
    """Tie ``sender`` (the identity of customer ``current``, if known) to the customer its
    proven ``links`` name, creating what is missing.

    A sender nobody knows yet joins that customer (or a new one). A sender who is
    so far a customer of their own (no identity but this one) is merged into it,
    audited with the proof. A sender who already is someone else as well (another
    identity of theirs) is not merged: ``conflict`` names the address, and the
    caller decides (web chat starts a fresh visitor). Links already proven for the
    sender's customer cost one read each and write nothing.
    """
    holders = {link: holder_of(tx.conn, link.address) for link in links}
    target = next((held[0] for held in holders.values() if held is not None), None)
    conflict = None
    if current is None:
        customer = target if target is not None else create_customer(tx, sender_name or "")
        add_identity(
            tx,
            customer,
            sender,
            display_name=sender_name,
            channel=channel,
            proof=Proof.CHANNEL,
            sent_on_channel=True,
        )
    elif target is None or target == current:
        customer = current
    elif identity_count(tx.conn, current) == 1:
        proof = next(link.proof for link, held in holders.items() if held and held[0] == target)
        merge_customers(None, target, current, tx, proof=proof)
        customer = target
    else:
        customer = current
        conflict = next(
            link.address for link, held in holders.items() if held and held[0] == target
        )
    for link, held in holders.items():
        if held is None:
            add_identity(
                tx,
                customer,
                link.address,
                display_name=sender_name,
                channel=channel,
                proof=link.proof,
                sent_on_channel=False,
            )
            settle_claims(tx, customer, [link.address])
        elif held == (target, None) and conflict is None:
            confirm(tx, customer, link.address, link.proof)
    return Linked(customer, conflict)


def identity_count(conn: Connection, customer_id: int) -> int:
    return conn.execute(
        select(func.count()).where(identities.c.customer_id == customer_id)
    ).scalar_one()
