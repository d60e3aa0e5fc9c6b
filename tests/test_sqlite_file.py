"""The SQLite file holds every message and session: readable by the hub's user alone."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.app import Hub
from tests.conftest import make_settings
from tests.support.clock import FakeClock


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """What most systems give a process: new files readable by everyone."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(directory: Path) -> dict[str, int]:
    return {path.name: mode(path) for path in directory.iterdir()}


async def test_a_new_database_file_and_its_wal_are_created_for_the_owner_only(tmp_path: Path):
    database = tmp_path / "hub.db"
    hub = Hub(make_settings(f"sqlite:///{database}"), FakeClock())
    await hub.start(run_workers=False)  # migrates: writes, so the WAL files exist
    try:
        files = modes(tmp_path)
    finally:
        await hub.stop()
    assert files == {"hub.db": 0o600, "hub.db-wal": 0o600, "hub.db-shm": 0o600}


async def warnings_opening(database: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    with caplog.at_level(logging.WARNING, logger="hub.db"):
        hub = Hub(make_settings(f"sqlite:///{database}"), FakeClock())
        await hub.db.close()
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_database_file_others_can_read_is_named_with_the_fix(tmp_path: Path, caplog):
    database = tmp_path / "hub.db"
    database.touch(mode=0o644)
    assert await warnings_opening(database, caplog) == [
        f"the database can be read by other users: {database} (mode 644); fix: chmod 600 {database}"
    ]
    assert mode(database) == 0o644, "the operator decides; the hub only warns"


async def test_a_private_database_file_gives_no_warning(tmp_path: Path, caplog):
    database = tmp_path / "hub.db"
    database.touch(mode=0o600)
    assert await warnings_opening(database, caplog) == []
