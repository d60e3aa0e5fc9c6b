"""Slack Web API failures to the hub's :class:`ConnectorError` family."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from connectors.base import AuthFailed, ConnectorError, PermanentError, RateLimited, TransientError

DEFAULT_RETRY_AFTER = 30.0

AUTH_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def api_error(method: str, error: SlackApiError) -> ConnectorError:
    """What a refused Web API call means for retrying: the Slack error string is the reason."""
    response = error.response
    status = response.status_code
    code = response.get("error") if isinstance(response.data, dict) else None
    reason = f"slack {method}: {code or f'HTTP {status}'}"
    if status == 429 or code == "ratelimited":
        return RateLimited(reason, retry_after(response.headers.get("Retry-After")))
    if code in AUTH_ERRORS or status in (401, 403):
        return AuthFailed(reason)
    if status >= 500 or code in TRANSIENT_ERRORS:
        return TransientError(reason)
    return PermanentError(reason)


def network_error(method: str, error: Exception) -> TransientError:
    return TransientError(f"slack {method} unreachable: {type(error).__name__}: {error}")


NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, SlackClientError)
"""Raised by the Web API client when Slack was not reached (``SlackApiError`` is caught first)."""


def retry_after(header: str | None) -> float:
    try:
        return max(0.0, float(header)) if header else DEFAULT_RETRY_AFTER
    except ValueError:
        return DEFAULT_RETRY_AFTER
