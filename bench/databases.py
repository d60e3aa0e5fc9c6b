"""A fresh database for each benchmark run: a SQLite file, or a PostgreSQL database created
beside the one given and dropped afterwards."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg


@contextlib.asynccontextmanager
async def fresh_database(server_url: str | None, workdir: Path, name: str) -> AsyncIterator[str]:
    if server_url is None:
        yield f"sqlite:///{workdir / name}.db"
        return
    admin = await asyncpg.connect(server_url)
    database = f"bench_{name}_{int(time.time())}"
    await admin.execute(f"CREATE DATABASE {database}")
    try:
        yield f"{server_url.rsplit('/', 1)[0]}/{database}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.close()
