"""Health checks: up, ready, and not ready when the schema is behind."""

from __future__ import annotations

import logging

import aiohttp
from sqlalchemy import text

from hub.app import Hub
from hub.db.migrate import head_revision


async def get(server, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(server.make_url(path)) as reply:
        return reply.status, await reply.json()


async def test_up_and_ready(server):
    assert await get(server, "/healthz") == (200, {"status": "up"})
    assert await get(server, "/readyz") == (200, {"status": "ready"})


async def set_revision(hub: Hub, revision: str | None) -> None:
    await hub.db.write(
        lambda tx: tx.conn.execute(
            text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
        )
    )


async def test_not_ready_when_the_schema_is_not_current(hub: Hub, server):
    await set_revision(hub, "0001")
    try:
        status, body = await get(server, "/readyz")
        assert status == 503
        assert body["reason"] == "database schema is not the current migration"
        assert await get(server, "/healthz") == (200, {"status": "up"})
    finally:
        await set_revision(hub, head_revision())


async def test_readiness_probes_write_no_alembic_lines(server, caplog):
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        assert await get(server, "/readyz") == (200, {"status": "ready"})
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
