"""Short-lived tokens the hub hands out and later believes: JSON claims signed with its key.

Used where the hub must remember a step between two requests without a table:
the password was right (two-factor sign-in), a secret was offered (enrolment).
Each token names its purpose, so one kind is never accepted as another, and
carries its expiry (``exp``, seconds since the epoch on the hub's clock).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from connectors.secret_check import same_secret


def sign(key: bytes, purpose: str, claims: dict[str, Any], expires: datetime) -> str:
    body = json.dumps({**claims, "exp": int(expires.timestamp())}, separators=(",", ":"))
    encoded = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{encoded}.{_signature(key, purpose, encoded)}"


def unsign(key: bytes, purpose: str, token: str, now: datetime) -> dict[str, Any] | None:
    """The claims of a token this hub signed for ``purpose`` and that has not expired."""
    encoded, _, signature = token.partition(".")
    if not same_secret(signature, _signature(key, purpose, encoded)):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict) or claims.get("exp", 0) <= now.timestamp():
        return None
    return claims


def _signature(key: bytes, purpose: str, encoded: str) -> str:
    return hmac.new(key, f"{purpose}:{encoded}".encode(), hashlib.sha256).hexdigest()
