"""How the hub writes its log: readable text, or one JSON object per line.

What is logged at info level and above names channels, ids and counts, never
message text, addresses' secrets or credentials; bodies appear at debug only.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from config.schema import LogSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message"]
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}


def log_handler(settings: LogSettings, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.format == "json":
        handler.setFormatter(JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(settings: LogSettings) -> None:
    """Replace whatever start-up logging was set with what the settings ask for."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(log_handler(settings))
    root.setLevel(settings.level.upper())
