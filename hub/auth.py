"""Agents' identities: argon2 password hashes, sessions, CSRF tokens, login throttling.

A session is one random token, stored only as its SHA-256. The browser holds
it in an HttpOnly cookie and must echo the session's CSRF token in a header
on every state-changing request; scripts send it as a bearer token instead
(no ambient credential, so no CSRF check). Ending sessions emits
``session.ended`` to their agent, so open live-event sockets (in any hub
process) close when the session behind them is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select

from hub.db.database import Tx
from hub.db.schema import agents, sessions

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
_UNKNOWN_AGENT_HASH = hash_password(secrets.token_urlsafe(16))


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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf_token: str
    agent_id: int


def verify_login(email: str, password: str, conn: Connection) -> int | None:
    """The active agent with these credentials, or ``None``."""
    row = conn.execute(
        select(agents.c.id, agents.c.password_hash, agents.c.active).where(
            agents.c.email == email.strip().lower()
        )
    ).first()
    if row is None:
        password_matches(_UNKNOWN_AGENT_HASH, password)
        return None
    if not password_matches(row.password_hash, password) or not row.active:
        return None
    return row.id


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


def find_principal(
    token: str, via_cookie: bool, now: datetime, conn: Connection
) -> Principal | None:
    row = conn.execute(
        select(
            agents.c.id, agents.c.name, agents.c.role, sessions.c.csrf_token, sessions.c.expires_at
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
    return Principal(row.id, row.name, row.role, row.csrf_token, via_cookie, row.expires_at)


def csrf_ok(principal: Principal, presented: str | None) -> bool:
    if not principal.via_cookie:
        return True
    return presented is not None and hmac.compare_digest(presented, principal.csrf_token)


class LoginThrottle:
    """At most ``per_minute`` login attempts per client address in any 60 seconds."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._attempts: dict[str, deque[float]] = {}

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        attempts = self._attempts.setdefault(client, deque())
        while attempts and attempts[0] <= now - 60:
            attempts.popleft()
        if len(attempts) >= self.per_minute:
            return False
        attempts.append(now)
        if len(self._attempts) > 10_000:
            self._attempts = {k: v for k, v in self._attempts.items() if v}
        return True
