"""How the hub writes its log: readable text, or one JSON object per line.

What is logged at info level and above names channels, ids and counts, never
message text, addresses' secrets or credentials; bodies appear at debug only.
Lines that libraries write are held to the same promise by the one root
handler: ``LIBRARY_LEVELS`` holds back the libraries that log URLs, bodies or
addresses at info (or at debug), and ``Redactor`` masks every configured
secret value in every record it writes, whichever logger made it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO
from urllib.parse import urlsplit

from pydantic import BaseModel
from pythonjsonlogger.json import JsonFormatter

from config.schema import LogSettings, Settings
from connectors.settings import EnvSecret

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TEXT_FORMAT_IN_REQUEST = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message"]
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}

LIBRARY_LEVELS: dict[str, int] = {
    # info: every request's URL; Telegram's bot token is part of the path
    "httpx": logging.WARNING,
    # debug: every connection and stream event
    "httpcore": logging.WARNING,
    # aiosmtpd, info: every SMTP command line, sender and recipient address
    "mail.log": logging.WARNING,
    # info: the whole body of a request whose signature is wrong (anyone's text)
    "slack_bolt": logging.WARNING,
    # debug: Web API request and response bodies
    "slack_sdk": logging.WARNING,
    # debug: every Bot API call with its parameters, message texts included
    "telegram": logging.WARNING,
    # info: every connection closed; debug: every command and server line, mail included
    "imapclient": logging.WARNING,
    # info: every request line with its query string (``hub run`` serves without it)
    "aiohttp.access": logging.WARNING,
    # info: SQL statements with their parameters
    "sqlalchemy": logging.WARNING,
}
"""The most each library may log, whatever ``log.level`` says (a higher level wins)."""

REDACTED = "[redacted]"
MIN_MASKED_CHARS = 6
"""Shorter secrets are not masked: they would match ordinary words and mangle every
line. ``configure_logging`` warns about each one it meets."""

_PLAIN_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) - {
    "msg",
    "exc_text",
    "stack_info",
}
"""What logging itself fills in (logger, file and thread names); the rest may carry secrets."""
_EXCEPTIONS = logging.Formatter()


class Redactor(logging.Filter):
    """Masks known secret values in a record: message, arguments, exception, stack, extras.

    The message is rendered here (``msg % args``), so a secret passed as an
    argument is masked too; the exception is rendered into ``exc_text`` and
    ``exc_info`` dropped, so that the text and the JSON formatter both write
    the masked one.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        maskable = {secret for secret in secrets if len(secret) >= MIN_MASKED_CHARS}
        longest_first = sorted(maskable, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, longest_first))) if longest_first else None
        )

    def mask(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        record.msg, record.args = rendered(record), None
        if record.exc_info:
            record.exc_text = record.exc_text or _EXCEPTIONS.formatException(record.exc_info)
            record.exc_info = None
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in _PLAIN_ATTRIBUTES:
                setattr(record, name, self.mask(value))
        return True


REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the HTTP request being handled (set by ``hub.access_log``), else ``None``."""


@contextmanager
def outside_request() -> Iterator[None]:
    """For work a request starts that outlives it (a channel's tasks): tasks copy the
    context they are created in, and their lines would name that request for ever."""
    token = REQUEST_ID.set(None)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps a record made while a request is handled with that request's id
    (``request_id``, a field of its own in JSON lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    """One readable line; the request's id after the logger's name when there is one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._in_request = logging.PercentStyle(TEXT_FORMAT_IN_REQUEST)

    def formatMessage(self, record: logging.LogRecord) -> str:
        if getattr(record, "request_id", None) is None:
            return super().formatMessage(record)
        return self._in_request.format(record)


def rendered(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad logging call: keep its parts (logging would print them raw)
        return f"{record.msg} {record.args!r}"


def env_secrets(value: object) -> Iterator[EnvSecret]:
    """Every ``EnvSecret`` in a settings tree, wherever a field holds one."""
    if isinstance(value, EnvSecret):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from env_secrets(getattr(value, name))
    elif isinstance(value, list | tuple | dict):
        for item in value.values() if isinstance(value, dict) else value:
            yield from env_secrets(item)


def secret_values(settings: Settings) -> list[str]:
    """The values to mask: each environment secret, and a password in the database URL."""
    values = [secret.reveal() for secret in env_secrets(settings)]
    database_password = urlsplit(settings.database.url).password
    return values + ([database_password] if database_password else [])


def log_handler(
    settings: LogSettings, stream: TextIO | None = None, redactor: Redactor | None = None
) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES))
    else:
        handler.setFormatter(TextFormatter())
    handler.addFilter(RequestIdFilter())
    if redactor is not None:
        handler.addFilter(redactor)
    return handler


def configure_logging(settings: Settings | None = None, stream: TextIO | None = None) -> None:
    """Replace whatever logging was set with the hub's: one root handler, libraries held back.

    Without settings (at start-up, before they are loaded) the log is text at
    info with nothing to mask yet.
    """
    log_settings = settings.log if settings is not None else LogSettings()
    secrets = secret_values(settings) if settings is not None else []
    level = logging.getLevelNamesMapping()[log_settings.level.upper()]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(log_handler(log_settings, stream, Redactor(secrets)))
    root.setLevel(level)
    for name, most in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(max(most, level))
    if settings is not None:
        warn_about_short_secrets(settings)


def warn_about_short_secrets(settings: Settings) -> None:
    for secret in env_secrets(settings):
        if len(secret.reveal()) < MIN_MASKED_CHARS:
            logging.getLogger(__name__).warning(
                "%s holds fewer than %d characters: too short to be masked in the log",
                secret.variable,
                MIN_MASKED_CHARS,
            )
