"""The SQLite database file: created for the hub's user alone; a warning if others can read it.

It holds every message, customer and session; SQLite creates its ``-wal``
and ``-shm`` files with the database file's permissions.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger("hub.db")

COMPANIONS = ("", "-wal", "-shm")


def private_database_file(url: str) -> None:
    """Create the file ``url`` names with mode 0600, or warn if it exists and others can read it."""
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        warn_if_readable(path)


def warn_if_readable(path: Path) -> None:
    readable = [
        (companion, mode)
        for companion in (Path(f"{path}{suffix}") for suffix in COMPANIONS)
        if companion.exists() and (mode := stat.S_IMODE(companion.stat().st_mode)) & 0o077
    ]
    if readable:
        modes = ", ".join(f"{p} (mode {m:o})" for p, m in readable)
        names = " ".join(str(p) for p, _ in readable)
        log.warning("the database can be read by other users: %s; fix: chmod 600 %s", modes, names)
