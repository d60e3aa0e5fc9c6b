"""The one way the hub checks a secret someone presented: a webhook's token, a signature.

Constant time, so a peer cannot learn a secret from how long a wrong guess took,
and an empty or missing expected secret matches nothing, so a channel whose
secret was never set stays shut rather than open to anyone presenting nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping


def same_secret(presented: str | None, expected: str | None) -> bool:
    """Whether ``presented`` is ``expected``, in time independent of where they differ."""
    if not expected or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; empty without one."""
    header = headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""
