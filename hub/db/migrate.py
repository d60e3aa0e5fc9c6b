"""Schema migrations with Alembic, applied by ``hub migrate`` and on every start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from hub.db.database import Database

VERSION_TABLE = "alembic_version"
MIGRATION_LOCK = 7_370_002
"""PostgreSQL advisory lock so that hub processes starting together migrate one at a time."""


def alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    command.upgrade(alembic_config(conn), "head")


async def migrate(db: Database) -> None:
    await db.run_maintenance(upgrade_to_head)


def stored_revision(conn: Connection) -> str | None:
    """The revision in the version table, read directly: unlike ``current_revision``,
    without two alembic info lines, which ``/readyz`` would write on every probe."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


async def is_current(db: Database) -> bool:
    return await db.read(stored_revision) == head_revision()
