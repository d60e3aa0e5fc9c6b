"""Limits on failed sign-ins, per client address and per account, kept in the database.

Every attempt is stored (``signin_attempts``) before its password is checked,
and so counts as a failure until it is known to have succeeded: a burst of
parallel guesses cannot all pass the check while the first ones are still
being hashed. A correct password takes its attempt back; a completed sign-in
also clears the account's failures. Rows older than the longest window are
pruned as new attempts arrive, so the table holds minutes of attempts, and
several hub processes on one PostgreSQL share the counts (the check and the
insert run under one advisory lock, so two processes cannot both let the
tenth guess through).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from math import ceil

from sqlalchemy import Connection, delete, func, insert, select

from config.schema import AuthSettings
from hub.db.database import Tx
from hub.db.locks import one_at_a_time
from hub.db.schema import signin_attempts
from hub.errors import TooManyRequests

SIGNIN_LOCK = 7_370_003
"""PostgreSQL advisory lock held while an attempt is counted and stored."""

CLIENT_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class SigninLimits:
    client_failures_per_minute: int
    account_failures: int
    account_window: timedelta
    account_delay: timedelta

    @classmethod
    def from_settings(cls, auth: AuthSettings) -> SigninLimits:
        return cls(
            auth.client_failures_per_minute,
            auth.account_failures,
            timedelta(minutes=auth.account_window_minutes),
            timedelta(seconds=auth.account_delay_seconds),
        )

    @property
    def kept_for(self) -> timedelta:
        return max(CLIENT_WINDOW, self.account_window)


def reserve_attempt(limits: SigninLimits, account: str, client: str, tx: Tx) -> int:
    """Store an attempt (a failure until settled), or refuse with 429 when over a limit."""
    one_at_a_time(tx.conn, SIGNIN_LOCK)
    tx.conn.execute(delete(signin_attempts).where(signin_attempts.c.at < tx.now - limits.kept_for))
    wait = _client_wait(limits, client, tx.conn, tx.now) or _account_wait(
        limits, account, tx.conn, tx.now
    )
    if wait is not None:
        who, seconds = wait
        raise TooManyRequests(
            f"too many failed sign-ins {who}: try again in {seconds} seconds",
            retry_after=seconds,
        )
    return tx.conn.execute(
        insert(signin_attempts).values(account=account, client=client, at=tx.now)
    ).inserted_primary_key[0]


def _client_wait(
    limits: SigninLimits, client: str, conn: Connection, now: datetime
) -> tuple[str, int] | None:
    count, oldest = conn.execute(
        select(func.count(), func.min(signin_attempts.c.at)).where(
            signin_attempts.c.client == client, signin_attempts.c.at > now - CLIENT_WINDOW
        )
    ).one()
    if count < limits.client_failures_per_minute:
        return None
    return "from this address", _seconds(oldest + CLIENT_WINDOW - now)


def _account_wait(
    limits: SigninLimits, account: str, conn: Connection, now: datetime
) -> tuple[str, int] | None:
    count, latest = conn.execute(
        select(func.count(), func.max(signin_attempts.c.at)).where(
            signin_attempts.c.account == account,
            signin_attempts.c.at > now - limits.account_window,
        )
    ).one()
    if count < limits.account_failures or now - latest >= limits.account_delay:
        return None
    return "for this account", _seconds(latest + limits.account_delay - now)


def _seconds(delta: timedelta) -> int:
    return max(1, ceil(delta.total_seconds()))


def take_back(attempt_id: int, tx: Tx) -> None:
    """The attempt's password was right: it is no failure (a second factor may follow)."""
    tx.conn.execute(delete(signin_attempts).where(signin_attempts.c.id == attempt_id))


def clear_account(account: str, tx: Tx) -> None:
    """The account's owner signed in: their earlier failures no longer count."""
    tx.conn.execute(delete(signin_attempts).where(signin_attempts.c.account == account))
