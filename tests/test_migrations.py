"""Migrations: ``hub migrate`` builds the schema that ``hub/db/schema.py`` declares."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from hub.app import Hub
from hub.db.migrate import current_revision, head_revision
from hub.db.schema import metadata
from hub.db.search_index import is_search_index


def differences(conn: Connection) -> list:
    """What differs, leaving out the search index (no SQLAlchemy table declares it)."""
    context = MigrationContext.configure(
        conn, opts={"include_name": lambda name, kind, parent: not is_search_index(name)}
    )
    return compare_metadata(context, metadata)


async def test_migrated_database_matches_the_declared_schema(hub: Hub):
    """On SQLite and (in CI) PostgreSQL: no table, column, index or constraint differs."""
    assert await hub.db.read(differences) == []
    assert await hub.db.read(current_revision) == head_revision()


def test_hub_migrate_command_creates_the_schema_and_is_repeatable(tmp_path: Path):
    database = tmp_path / "fresh.db"
    config = tmp_path / "hub.yaml"
    config.write_text(f'database: {{url: "sqlite:///{database}"}}\n')
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "hub", "migrate", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(database) as conn:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert set(metadata.tables) <= tables
    assert revision == head_revision()
