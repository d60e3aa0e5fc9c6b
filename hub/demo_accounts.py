"""Demo accounts that still have their published demo passwords.

``hub run --demo`` creates accounts whose passwords are printed and documented.
The hub remembers the hash each got (``hub_state``); an account whose hash is
still that one still takes its demo password, with no argon2 check needed to
know it (any new password gets a new salt, so a new hash). Such accounts are
named in a warning at start and in the admin console, and may not sign in
while the hub's public URL is anything but a loopback address.
"""

from __future__ import annotations

import json
from ipaddress import ip_address
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, insert, select

from hub.db.database import Tx
from hub.db.schema import agents, hub_state

DEMO_SEED_STATE = "demo-seed"


def record_demo_seed(password_hashes: dict[str, str], tx: Tx) -> None:
    """Remember the demo accounts (email -> the hash of their demo password)."""
    value = json.dumps(password_hashes)
    tx.conn.execute(delete(hub_state).where(hub_state.c.key == DEMO_SEED_STATE))
    tx.conn.execute(insert(hub_state).values(key=DEMO_SEED_STATE, value=value))


def demo_hashes(conn: Connection) -> dict[str, str]:
    stored = conn.execute(
        select(hub_state.c.value).where(hub_state.c.key == DEMO_SEED_STATE)
    ).scalar()
    return json.loads(stored) if stored else {}


def demo_passwords_in_use(conn: Connection) -> list[str]:
    """The active accounts that still take their demo password, by email."""
    seeded = demo_hashes(conn)
    if not seeded:
        return []
    rows = conn.execute(
        select(agents.c.email, agents.c.password_hash)
        .where(agents.c.email.in_(seeded), agents.c.active.is_(True))
        .order_by(agents.c.id)
    )
    return [email for email, password_hash in rows if seeded[email] == password_hash]


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
