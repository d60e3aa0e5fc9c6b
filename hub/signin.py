"""Signing in: the limits, the password, the second factor, the audit, then a session.

A password sign-in takes four steps, none of them long on the event loop or
on a database thread: the attempt is counted (``signin_limits``), the account
is read, the password is checked by argon2 on its own threads
(``PasswordWork``), and the outcome is stored with its audit row. With
two-factor sign-in on, a right password gives a signed challenge instead of a
session, and the session comes with a code (``sign_in_with_code``).

Every outcome is audited as ``signin.succeeded`` or ``signin.failed`` (subject
``signin``, the attempt's number) with the email tried, the agent when known,
the client's address and the reason or method; never the password or code.
Refusals by the limits are not audited (a flood would fill the log), nor is a
right password waiting for its code (the code's outcome is).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from hub.assignment import record_audit
from hub.auth import UNKNOWN_AGENT_HASH, NewSession, open_session
from hub.clients import client_key
from hub.db.database import Tx
from hub.db.schema import agents
from hub.demo_accounts import demo_hashes, is_loopback_url
from hub.errors import Forbidden, HubError, Unauthorized
from hub.signed import sign, unsign
from hub.signin_limits import clear_account, reserve_attempt, take_back
from hub.two_factor import use_second_factor

if TYPE_CHECKING:
    from hub.app import Hub

CHALLENGE = "two-factor-challenge"
CHALLENGE_MINUTES = 5
WRONG_PASSWORD = "wrong email or password, or the account is deactivated"
WRONG_CODE = "wrong code: enter the current code from your app, or an unused recovery code"
EXPIRED = "this sign-in has expired: enter your password again"
DEMO_REFUSED = (
    "this account still has its published demo password, which is refused while "
    "http.public_url is not a loopback address: an admin must give it a new password"
)


@dataclass(frozen=True)
class Challenge:
    """The password was right; a code must follow, with this token."""

    token: str


@dataclass(frozen=True)
class Account:
    id: int
    password_hash: str
    active: bool
    two_factor: bool
    demo_password: bool


@dataclass(frozen=True)
class Attempt:
    id: int
    email: str
    client: str
    """The client's address as seen (the limits count IPv6 by /64; the audit shows this)."""


async def sign_in_with_password(
    hub: Hub, email: str, password: str, client: str
) -> NewSession | Challenge:
    email = email.strip().lower()
    hub.passwords.check_capacity()
    attempt = await _reserve(hub, email, client)
    account = await hub.db.read(partial(load_account, email))
    checked = await hub.passwords.matches(
        account.password_hash if account else UNKNOWN_AGENT_HASH, password
    )
    refusal = password_refusal(account, checked, hub.public_url)
    if refusal is not None:
        reason, error = refusal
        agent_id = account.id if account else None
        await hub.db.write(partial(record_failure, attempt, agent_id, reason))
        raise error
    assert account is not None
    if account.two_factor:
        await hub.db.write(partial(take_back, attempt.id))
        return Challenge(_challenge(hub, account, email))
    return await hub.db.write(partial(complete, attempt, account.id, "password", _lifetime(hub)))


async def sign_in_with_code(hub: Hub, token: str, code: str, client: str) -> NewSession:
    claims = unsign(hub.secret_key, CHALLENGE, token, hub.clock.now())
    if claims is None:
        raise expired()
    attempt = await _reserve(hub, claims["email"], client)
    outcome = await hub.db.write(
        partial(
            finish_with_code, attempt, claims["agent"], claims["password"], code, _lifetime(hub)
        )
    )
    if isinstance(outcome, HubError):
        raise outcome
    return outcome


def expired() -> Unauthorized:
    """The challenge is no good any more: the client starts again with the password."""
    return Unauthorized(EXPIRED, sign_in="password")


async def _reserve(hub: Hub, email: str, client: str) -> Attempt:
    attempt_id = await hub.db.write(
        partial(reserve_attempt, hub.signin_limits, email, client_key(client)), key=email
    )
    return Attempt(attempt_id, email, client)


def _lifetime(hub: Hub) -> timedelta:
    return timedelta(hours=hub.settings.auth.session_hours)


def _challenge(hub: Hub, account: Account, email: str) -> str:
    claims = {"agent": account.id, "email": email, "password": fingerprint(account.password_hash)}
    expires = hub.clock.now() + timedelta(minutes=CHALLENGE_MINUTES)
    return sign(hub.secret_key, CHALLENGE, claims, expires)


def fingerprint(password_hash: str) -> str:
    """Part of the hash's digest: a challenge dies with the password it was made for."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def load_account(email: str, conn: Connection) -> Account | None:
    row = conn.execute(
        select(
            agents.c.id,
            agents.c.password_hash,
            agents.c.active,
            agents.c.totp_secret.is_not(None).label("two_factor"),
        ).where(agents.c.email == email)
    ).first()
    if row is None:
        return None
    demo = demo_hashes(conn).get(email) == row.password_hash
    return Account(row.id, row.password_hash, row.active, bool(row.two_factor), demo)


def password_refusal(
    account: Account | None, checked: bool, public_url: str
) -> tuple[str, HubError] | None:
    """Why a sign-in fails (for the audit) and what the client is told; ``None``: it passes."""
    if account is None:
        return "unknown email", Unauthorized(WRONG_PASSWORD)
    if not checked:
        return "wrong password", Unauthorized(WRONG_PASSWORD)
    if not account.active:
        return "account deactivated", Unauthorized(WRONG_PASSWORD)
    if account.demo_password and not is_loopback_url(public_url):
        return "demo password on a public hub", Forbidden(DEMO_REFUSED)
    return None


def record_failure(attempt: Attempt, agent_id: int | None, reason: str, tx: Tx) -> None:
    _audit(tx, "signin.failed", attempt, None, agent_id=agent_id, reason=reason)


def complete(
    attempt: Attempt, agent_id: int, method: str, lifetime: timedelta, tx: Tx
) -> NewSession:
    take_back(attempt.id, tx)
    clear_account(attempt.email, tx)
    _audit(tx, "signin.succeeded", attempt, agent_id, agent_id=agent_id, method=method)
    return open_session(agent_id, lifetime, tx)


def finish_with_code(
    attempt: Attempt, agent_id: int, password: str, code: str, lifetime: timedelta, tx: Tx
) -> NewSession | HubError:
    """Check the second factor: a session, or the error to answer (the failure audited).

    The error is returned, not raised: raising would undo the audit row with the rest.
    """
    row = tx.conn.execute(
        select(agents.c.password_hash, agents.c.active).where(agents.c.id == agent_id)
    ).first()
    if row is None or not row.active or fingerprint(row.password_hash) != password:
        record_failure(attempt, agent_id, "password changed or account deactivated", tx)
        return expired()
    method = use_second_factor(agent_id, code, tx)
    if method is None:
        record_failure(attempt, agent_id, "wrong two-factor code", tx)
        return Unauthorized(WRONG_CODE)
    return complete(attempt, agent_id, method, lifetime, tx)


def _audit(tx: Tx, action: str, attempt: Attempt, actor_id: int | None, **details: object) -> None:
    record_audit(
        tx,
        actor_id,
        action,
        "signin",
        attempt.id,
        email=attempt.email,
        client=attempt.client,
        **details,
    )
