"""Graph API answers as the hub's connector errors (the outbox decides retries)."""

from __future__ import annotations

import json

from connectors.base import AuthFailed, ConnectorError, PermanentError, RateLimited, TransientError
from connectors.retry import retry_after_seconds
from connectors.whatsapp.payloads import error_reason

THROTTLED = frozenset({4, 80007, 130429, 131056})
"""Rate limits: the app's, the account's, the number's throughput, a pair's."""
TEMPORARY = frozenset({1, 2, 131000, 133004})
"""Meta's own trouble: unknown, service unavailable, something went wrong, server down."""
REFUSED_TOKEN = frozenset({0, 190})


def api_error(status: int, body: str, retry_after: str | None) -> ConnectorError:
    """What a non-2xx answer means: a rate limit waits, Meta's trouble retries, a refused
    token or any other error (131047 re-engagement, 131026 undeliverable...) fails with the
    reason."""
    try:
        said = json.loads(body)
    except json.JSONDecodeError:
        said = {}
    error = said.get("error") if isinstance(said, dict) else None
    error = error if isinstance(error, dict) else {"message": f"HTTP {status}"}
    code = error.get("code")
    reason = error_reason(error)
    if status == 429 or code in THROTTLED:
        return RateLimited(
            f"WhatsApp: too many requests ({reason})", retry_after_seconds(retry_after)
        )
    if status >= 500 or code in TEMPORARY:
        return TransientError(f"WhatsApp answered {status}: {reason}")
    if status == 401 or code in REFUSED_TOKEN:
        return AuthFailed(f"WhatsApp refused the access token ({reason})")
    return PermanentError(f"WhatsApp refused the message: {reason}")
