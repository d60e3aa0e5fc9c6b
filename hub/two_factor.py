"""Two-factor sign-in: TOTP codes (RFC 6238, pyotp) and one-time recovery codes.

Enrolment is two steps with nothing stored in between: the hub offers a fresh
secret in a signed token (shown as a QR code and as text), and stores it only
when the agent sends that token back with a code the secret produced, proving
their app holds it. Ten recovery codes are then shown once and stored as their
SHA-256. A TOTP code is accepted for its own 30-second step and the ones on
either side (clock drift), and only for a step later than the last one
accepted, so a code seen over someone's shoulder does not work again.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import pyotp
import segno
from sqlalchemy import Connection, delete, insert, or_, select, update

from connectors.secret_check import same_secret
from hub.assignment import record_audit
from hub.db.database import Tx
from hub.db.schema import agents, hub_state, recovery_codes
from hub.errors import Conflict, Unprocessable
from hub.signed import sign, unsign

REQUIRED_STATE = "require-two-factor"
ENROLMENT = "two-factor-enrolment"
ENROLMENT_MINUTES = 15
ISSUER = "Omnichannel hub"
RECOVERY_CODES = 10
DRIFT_STEPS = 1


def two_factor_required(conn: Connection) -> bool:
    value = conn.execute(select(hub_state.c.value).where(hub_state.c.key == REQUIRED_STATE))
    return value.scalar() == "true"


def require_for_everyone(actor_id: int, required: bool, tx: Tx) -> None:
    """Set the team-wide rule (audited); an admin must use two-factor before requiring it."""
    if required and not has_two_factor(tx.conn, actor_id):
        raise Conflict("set up your own two-factor sign-in first (on your account page)")
    tx.conn.execute(delete(hub_state).where(hub_state.c.key == REQUIRED_STATE))
    tx.conn.execute(insert(hub_state).values(key=REQUIRED_STATE, value=str(required).lower()))
    record_audit(tx, actor_id, "two_factor.policy", "hub", 0, required=required)


def has_two_factor(conn: Connection, agent_id: int) -> bool:
    secret = conn.execute(select(agents.c.totp_secret).where(agents.c.id == agent_id)).scalar()
    return secret is not None


def offer_enrolment(key: bytes, agent_id: int, email: str, now: datetime) -> dict[str, Any]:
    """A fresh secret for the agent's app: as text, as an otpauth URI and as a QR code."""
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    expires = now + timedelta(minutes=ENROLMENT_MINUTES)
    return {
        "secret": secret,
        "otpauth_uri": uri,
        "qr_svg": segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
        "enrolment": sign(key, ENROLMENT, {"agent": agent_id, "secret": secret}, expires),
    }


def offered_secret(key: bytes, agent_id: int, token: str, now: datetime) -> str:
    claims = unsign(key, ENROLMENT, token, now)
    if claims is None or claims.get("agent") != agent_id:
        raise Unprocessable("the enrolment has expired or is not yours: start again")
    return str(claims["secret"])


def confirm_enrolment(agent_id: int, secret: str, code: str, tx: Tx) -> list[str]:
    """Store the secret once ``code`` shows the agent's app has it; the new recovery codes."""
    if has_two_factor(tx.conn, agent_id):
        raise Conflict("two-factor sign-in is on already: turn it off first to start again")
    step = matching_step(secret, code, tx.now, after=None)
    if step is None:
        raise Unprocessable("that code does not match: check your app's clock and try again")
    tx.conn.execute(
        update(agents)
        .where(agents.c.id == agent_id)
        .values(totp_secret=secret, totp_last_step=step)
    )
    codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
    tx.conn.execute(
        insert(recovery_codes),
        [{"agent_id": agent_id, "code_hash": code_hash(c), "used_at": None} for c in codes],
    )
    record_audit(tx, agent_id, "two_factor.enabled", "agent", agent_id)
    return codes


def turn_off(actor_id: int, agent_id: int, tx: Tx) -> None:
    tx.conn.execute(
        update(agents).where(agents.c.id == agent_id).values(totp_secret=None, totp_last_step=None)
    )
    tx.conn.execute(delete(recovery_codes).where(recovery_codes.c.agent_id == agent_id))
    record_audit(tx, actor_id, "two_factor.disabled", "agent", agent_id)


def use_second_factor(agent_id: int, code: str, tx: Tx) -> str | None:
    """Accept a TOTP code or an unused recovery code once; how (``totp``/``recovery code``)."""
    if is_totp_code(code):
        return "totp" if _use_totp(agent_id, code, tx) else None
    used = tx.conn.execute(
        update(recovery_codes)
        .where(
            recovery_codes.c.agent_id == agent_id,
            recovery_codes.c.code_hash == code_hash(code),
            recovery_codes.c.used_at.is_(None),
        )
        .values(used_at=tx.now)
    )
    return "recovery code" if used.rowcount == 1 else None


def _use_totp(agent_id: int, code: str, tx: Tx) -> bool:
    row = tx.conn.execute(
        select(agents.c.totp_secret, agents.c.totp_last_step).where(agents.c.id == agent_id)
    ).one()
    if row.totp_secret is None:
        return False
    step = matching_step(row.totp_secret, code, tx.now, after=row.totp_last_step)
    if step is None:
        return False
    # Conditional, so that two processes accepting the same code at once cannot both win.
    taken = tx.conn.execute(
        update(agents)
        .where(
            agents.c.id == agent_id,
            or_(agents.c.totp_last_step.is_(None), agents.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return taken.rowcount == 1


def matching_step(secret: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time step (near ``now``, later than ``after``) whose code is ``code``."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        fresh = after is None or step > after
        if fresh and same_secret(code.strip(), totp.generate_otp(step)):
            return step
    return None


def is_totp_code(code: str) -> bool:
    stripped = code.strip()
    return len(stripped) == 6 and stripped.isdigit()


def new_recovery_code() -> str:
    """About 79 random bits: four groups of four letters and digits (no 0/o or 1/l to mix up)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    text = "".join(secrets.choice(alphabet) for _ in range(16))
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def code_hash(code: str) -> str:
    """Recovery codes compared as typed in any case, with or without dashes and spaces."""
    normal = "".join(code.lower().split()).replace("-", "")
    return hashlib.sha256(normal.encode()).hexdigest()
