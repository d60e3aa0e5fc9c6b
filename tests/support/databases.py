"""Fresh databases for each test: a copy of a migrated SQLite file, or a truncated PostgreSQL.

Set ``HUB_TEST_DATABASE_URL=postgresql://...`` to run the suite on PostgreSQL;
``.ci/run`` does both.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.db.database import open_database
from hub.db.migrate import migrate
from hub.db.postgres_backend import asyncpg_url
from hub.db.schema import metadata
from hub.events import EventBus
from tests.support.clock import FakeClock

POSTGRES_URL = os.environ.get("HUB_TEST_DATABASE_URL")


async def migrate_url(url: str) -> None:
    db = open_database(url, FakeClock(), EventBus())
    try:
        await migrate(db)
    finally:
        await db.close()


def fresh_sqlite(template: Path, directory: Path) -> str:
    """A copy of the template, private like every database file the hub creates."""
    target = directory / "hub.db"
    shutil.copy(template, target)
    return f"sqlite:///{target}"


async def truncate_postgres(url: str) -> None:
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    engine = create_async_engine(asyncpg_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
