"""Agents' identities: argon2 password hashes, sessions, CSRF tokens.

A session is one random token, stored only as its SHA-256. The browser holds
it in an HttpOnly cookie and must echo the session's CSRF token in a header
on every state-changing request; scripts send it as a bearer token instead
(no ambient credential, so no CSRF check). Ending sessions emits
``session.ended`` to their agent, so open live-event sockets (in any hub
process) close when the session behind them is gone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select

from connectors.secret_check import same_secret
from hub.db.database import Tx
from hub.db.schema import agents, hub_state, sessions
from hub.two_factor import REQUIRED_STATE

SESSION_ENDED = "session.ended"

SESSION_COOKIE = "hub_session"
CSRF_HEADER = "X-CSRF-Token"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A hash to verify against when the email is unknown, so both cases take as long.
UNKNOWN_AGENT_HASH = hash_password(secrets.token_urlsafe(16))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is making a request."""

    agent_id: int
    name: str
    role: str
    csrf_token: str
    via_cookie: bool
    expires_at: datetime | None = None
    must_enrol: bool = False
    """Two-factor sign-in is required for everyone and this agent has not set it up yet."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    agent_id: int


def open_session(agent_id: int, lifetime: timedelta, tx: Tx) -> NewSession:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    tx.conn.execute(delete(sessions).where(sessions.c.expires_at <= tx.now))
    tx.conn.execute(
        insert(sessions).values(
            token_hash=token_hash(token),
            agent_id=agent_id,
            csrf_token=csrf,
            created_at=tx.now,
            expires_at=tx.now + lifetime,
        )
    )
    return NewSession(token, csrf, agent_id)


def close_session(token: str, tx: Tx) -> None:
    ended = tx.conn.execute(
        delete(sessions)
        .where(sessions.c.token_hash == token_hash(token))
        .returning(sessions.c.agent_id)
    ).scalar()
    if ended is not None:
        tx.emit(SESSION_ENDED, {"reason": "signed out"}, to=[ended])


def close_agent_sessions(agent_id: int, reason: str, tx: Tx) -> None:
    tx.conn.execute(delete(sessions).where(sessions.c.agent_id == agent_id))
    tx.emit(SESSION_ENDED, {"reason": reason}, to=[agent_id])


TWO_FACTOR_REQUIRED = (
    select(hub_state.c.value).where(hub_state.c.key == REQUIRED_STATE).scalar_subquery()
)


def find_principal(
    token: str, via_cookie: bool, now: datetime, conn: Connection
) -> Principal | None:
    row = conn.execute(
        select(
            agents.c.id,
            agents.c.name,
            agents.c.role,
            sessions.c.csrf_token,
            sessions.c.expires_at,
            agents.c.totp_secret.is_(None).label("without_two_factor"),
            TWO_FACTOR_REQUIRED.label("two_factor_required"),
        )
        .join(agents, agents.c.id == sessions.c.agent_id)
        .where(
            sessions.c.token_hash == token_hash(token),
            sessions.c.expires_at > now,
            agents.c.active.is_(True),
        )
    ).first()
    if row is None:
        return None
    must_enrol = bool(row.without_two_factor) and row.two_factor_required == "true"
    return Principal(
        row.id, row.name, row.role, row.csrf_token, via_cookie, row.expires_at, must_enrol
    )


def csrf_ok(principal: Principal, presented: str | None) -> bool:
    if not principal.via_cookie:
        return True
    return same_secret(presented, principal.csrf_token)
