"""Keeping one known, misleading slack-bolt line out of the hub's log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def dropped(logger: logging.Logger, message: str) -> Iterator[None]:
    """Drop records of exactly ``message`` from ``logger`` while the block runs.

    bolt's ``AsyncApp`` reads ``SLACK_BOT_TOKEN`` from the environment even when
    given a client, and then warns that the token will be unused: true (the hub
    passes the token the channel's settings name on each request) but alarming
    at every start. Its constructor offers no way to skip the environment.
    """

    def other(record: logging.LogRecord) -> bool:
        return record.getMessage() != message

    logger.addFilter(other)
    try:
        yield
    finally:
        logger.removeFilter(other)
