"""Twilio REST API answers as the hub's connector errors (the outbox decides retries)."""

from __future__ import annotations

import json

from connectors.base import AuthFailed, ConnectorError, PermanentError, RateLimited, TransientError
from connectors.retry import retry_after_seconds
from connectors.twilio.payloads import error_reason


def api_error(status: int, body: str, retry_after: str | None, credentials: str) -> ConnectorError:
    """What a non-2xx answer means: 429 waits, 5xx retries, a refused credential (named by
    ``credentials``) or any other 4xx (21610 unsubscribed, 21211 bad number...) fails with
    Twilio's reason."""
    try:
        said = json.loads(body)
    except json.JSONDecodeError:
        said = {}
    said = said if isinstance(said, dict) else {}
    code = str(said["code"]) if said.get("code") is not None else None
    reason = error_reason(code, said.get("message") or f"HTTP {status}")
    if status == 429:
        return RateLimited(
            f"Twilio: too many requests ({reason})", retry_after_seconds(retry_after)
        )
    if status >= 500:
        return TransientError(f"Twilio answered {status}: {reason}")
    if status in (401, 403):
        return AuthFailed(f"Twilio refused {credentials} ({reason})")
    return PermanentError(f"Twilio refused the message: {reason}")
