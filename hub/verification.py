"""Proving a web chat visitor: one-time codes by email, and identities the embedding site signed.

A code is six digits, sent through an email channel's relay, valid for
``CODE_LIFETIME``, good for one use and ``MAX_ATTEMPTS`` guesses. Only a keyed
hash (HMAC with the hub's secret key, bound to the visitor and the address) is
stored, so the table gives nothing away. Codes are rate-limited per address,
per visitor and per client address, in the database, so every hub process
counts the same.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, func, insert, select, update

from config.schema import EmailChannel, WebchatChannel
from connectors.abilities import Notifier
from connectors.base import (
    Address,
    ConnectorError,
    Link,
    Proof,
)
from connectors.secret_check import same_secret
from connectors.verification import CodeRequest, VerificationRefused
from hub.db.database import Tx
from hub.db.schema import verification_codes
from hub.identities import customer_of, record_claims
from hub.linking import identity_count, link_proven

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 5
WINDOW = timedelta(hours=1)
LIMITS = {"address": 3, "visitor": 5, "client": 10}
"""Codes per ``WINDOW``: to one address, for one visitor, from one client address."""


def code_hash(key: bytes, visitor: str, address: str, code: str) -> str:
    message = f"verify:{visitor}:{address}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue_code(key: bytes, request: CodeRequest, tx: Tx) -> tuple[int, str]:
    """A new code for ``request`` (its row id and the code), stored hashed; refused over the
    limits."""
    since = tx.now - WINDOW
    for column, limit in LIMITS.items():
        value = getattr(request, column)
        if recent_codes(tx, verification_codes.c[column] == value, since) >= limit:
            raise VerificationRefused(
                f"too many codes asked for this {'email' if column == 'address' else column}: "
                "try again in an hour"
            )
    code = f"{secrets.randbelow(10**6):06d}"
    stored = tx.conn.execute(
        insert(verification_codes).values(
            channel=request.channel,
            visitor=request.visitor,
            address=request.address,
            client=request.client[:64],
            code_hash=code_hash(key, request.visitor, request.address, code),
            attempts=0,
            created_at=tx.now,
            expires_at=tx.now + CODE_LIFETIME,
        )
    )
    return stored.inserted_primary_key[0], code


def void_code(code_id: int, tx: Tx) -> None:
    """A code that never reached its address: nobody may guess it (it still counts)."""
    tx.conn.execute(
        update(verification_codes).where(verification_codes.c.id == code_id).values(used_at=tx.now)
    )


def recent_codes(tx: Tx, which: ColumnElement[bool], since: object) -> int:
    return tx.conn.execute(
        select(func.count()).where(which, verification_codes.c.created_at > since)
    ).scalar_one()


def redeem_code(key: bytes, channel: str, visitor: str, code: str, tx: Tx) -> str | None:
    """The address the visitor's newest live code was sent to, if ``code`` is it; each guess
    counts, and a used code is spent."""
    row = tx.conn.execute(
        select(verification_codes)
        .where(
            verification_codes.c.channel == channel,
            verification_codes.c.visitor == visitor,
            verification_codes.c.used_at.is_(None),
            verification_codes.c.expires_at > tx.now,
        )
        .order_by(verification_codes.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        raise VerificationRefused("no code is waiting, or it expired: ask for a new one")
    if row.attempts >= MAX_ATTEMPTS:
        raise VerificationRefused("too many wrong codes: ask for a new one")
    matches = same_secret(code_hash(key, visitor, row.address, code), row.code_hash)
    tx.conn.execute(
        update(verification_codes)
        .where(verification_codes.c.id == row.id)
        .values(attempts=row.attempts + 1, used_at=tx.now if matches else None)
    )
    return row.address if matches else None


def link_verified(channel: str, visitor: Address, name: str | None, email: Address, tx: Tx) -> int:
    """Tie the visitor to the address they proved; if it is another established customer's,
    record the proven claim for a person to merge. The visitor's customer id."""
    current = customer_of(tx.conn, visitor)
    linked = link_proven(tx, visitor, name, channel, (Link(email, Proof.CODE),), current)
    if linked.conflict is not None:
        record_claims(tx, linked.customer_id, (linked.conflict,), channel, "code")
    return linked.customer_id


class Verification:
    """What web chat asks of the hub to prove a visitor (``connectors.base.Verifier``)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def notifier(self, channel: str) -> Notifier | None:
        """The email channel that sends codes for ``channel``, if one is configured and on."""
        settings = self.hub.settings.channel(channel)
        if not isinstance(settings, WebchatChannel):
            return None
        name = settings.verify_email_with or next(
            (c.name for c in self.hub.settings.channels if isinstance(c, EmailChannel)), None
        )
        connector = self.hub.connectors.get(name) if name else None
        return connector if isinstance(connector, Notifier) else None

    def can_send_codes(self, channel: str) -> bool:
        return self.notifier(channel) is not None

    async def send_code(self, request: CodeRequest) -> None:
        notifier = self.notifier(request.channel)
        if notifier is None:
            raise VerificationRefused("email verification is not available on this chat")
        key = self.hub.secret_key
        code_id, code = await self.hub.db.write(lambda tx: issue_code(key, request, tx))
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        try:
            await notifier.send_notice(
                request.address,
                "Your verification code",
                f"Your code is {code}. Enter it in the chat to confirm this address is yours.\n"
                f"It expires in {minutes} minutes. If you did not ask for it, ignore this mail.",
            )
        except ConnectorError as error:
            # The relay's words may quote the address: only the kind of failure is logged.
            log.warning(
                "channel %s: could not send a verification code (%s)",
                request.channel,
                type(error).__name__,
            )
            await self.hub.db.write(partial(void_code, code_id))
            raise VerificationRefused("the code could not be sent: try again later") from error

    async def check_code(
        self, channel: str, visitor: Address, name: str | None, code: str
    ) -> Address:
        key = self.hub.secret_key
        address = await self.hub.db.write(
            lambda tx: redeem_code(key, channel, visitor.address, code, tx)
        )
        if address is None:
            raise VerificationRefused("that is not the code we sent")
        email = Address("email", address)
        await self.hub.db.write(lambda tx: link_verified(channel, visitor, name, email, tx))
        return email

    async def belongs_elsewhere(self, visitor: Address, links: tuple[Link, ...]) -> bool:
        return await self.hub.db.read(lambda conn: would_conflict(conn, visitor, links))


def would_conflict(conn: Connection, visitor: Address, links: tuple[Link, ...]) -> bool:
    """Would tying ``visitor`` to ``links`` mean merging two established customers?

    (A browser shared by two signed-in users: the second gets a visitor of their own.)
    """
    current = customer_of(conn, visitor)
    holders = (customer_of(conn, link.address) for link in links)
    target = next((holder for holder in holders if holder is not None), None)
    if current is None or target is None or target == current:
        return False
    return identity_count(conn, current) > 1
