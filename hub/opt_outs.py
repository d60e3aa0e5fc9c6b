"""Customers who told a channel to stop (an SMS STOP): nothing more is sent to them there.

Carriers and Twilio require it, and Twilio refuses such sends itself (21610), so
the hub refuses first, with a reason an agent can act on: a reply is answered 409
before anything is stored, and whatever was queued earlier (a scheduled reply,
an auto-reply) fails at send time instead of leaving. START opts back in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from hub.assignment import record_audit
from hub.db.database import Tx
from hub.db.schema import identities
from hub.errors import Conflict


def record_opt_out(tx: Tx, identity_id: int, channel: str, opted_out: bool) -> None:
    """STOP marks the identity opted out of ``channel``; START on that channel lifts it
    (audited either way, with no actor: the customer did it)."""
    current = tx.conn.execute(
        select(identities.c.opted_out_channel).where(identities.c.id == identity_id)
    ).scalar()
    if opted_out:
        values = {"opted_out_channel": channel, "opted_out_at": tx.now}
    elif current == channel:
        values = {"opted_out_channel": None, "opted_out_at": None}
    else:
        return
    tx.conn.execute(update(identities).where(identities.c.id == identity_id).values(values))
    action = "identity.opted_out" if opted_out else "identity.opted_in"
    record_audit(tx, None, action, "identity", identity_id, channel=channel)


def opted_out_reason(channel: str, since: datetime) -> str:
    return (
        f"the customer opted out of channel {channel} (texted STOP on {since:%Y-%m-%d %H:%M} "
        "UTC): nothing is sent there until they text START"
    )


def refuse_if_opted_out(conn: Connection, identity_id: int, channel: str) -> None:
    """A 409 naming the opt-out when the reply would go where the customer said STOP."""
    row = conn.execute(
        select(identities.c.opted_out_channel, identities.c.opted_out_at).where(
            identities.c.id == identity_id
        )
    ).first()
    if row is not None and row.opted_out_channel == channel:
        raise Conflict(
            opted_out_reason(channel, row.opted_out_at), reason="opted_out", channel=channel
        )
