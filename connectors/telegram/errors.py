"""python-telegram-bot's errors as the hub's connector errors, the token never in a reason."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from connectors.base import (
    AuthFailed,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)


def retry_after_seconds(error: RetryAfter) -> float:
    """``RetryAfter.retry_after`` is an int or a timedelta depending on PTB_TIMEDELTA."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def connector_error(error: TelegramError, token: str) -> ConnectorError:
    message = error.message.replace(token, "<token>")
    reason = f"Telegram: {message}"
    match error:
        case RetryAfter():
            seconds = retry_after_seconds(error)
            return RateLimited(f"Telegram: too many requests, retry after {seconds:g} s", seconds)
        case InvalidToken():
            return AuthFailed(f"Telegram refused the bot token ({message})")
        case Forbidden() | BadRequest() | ChatMigrated():
            return PermanentError(reason)
        case NetworkError():  # TimedOut is a NetworkError
            return TransientError(reason)
    return TransientError(reason)


def classify(error: Exception, token: str) -> ConnectorError:
    """What a polling or webhook session does after ``error`` (see ``connectors.retry``)."""
    if isinstance(error, TelegramError):
        return connector_error(error, token)
    if isinstance(error, ConnectorError):
        return error
    return TransientError(f"{type(error).__name__}: {error}".replace(token, "<token>"))
