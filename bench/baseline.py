"""The baseline the hub is measured against: a bare aiohttp handler doing one insert.

    python -m bench.baseline --port 8099 --database sqlite:///base.db

On SQLite the insert runs with sqlite3 right in the handler (WAL,
synchronous=NORMAL) and commits; on PostgreSQL it is one asyncpg INSERT.
"""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

import asyncpg
from aiohttp import web

TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_messages ("
    " id {pk}, external_id TEXT NOT NULL UNIQUE, sender TEXT NOT NULL, body TEXT NOT NULL)"
)


def sqlite_app(path: str) -> web.Application:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(TABLE.format(pk="INTEGER PRIMARY KEY"))

    async def receive(request: web.Request) -> web.Response:
        message: dict[str, Any] = await request.json()
        cursor = connection.execute(
            "INSERT INTO bench_messages (external_id, sender, body) VALUES (?, ?, ?)",
            (message["id"], message["from"]["address"], message["text"]),
        )
        return web.json_response({"id": cursor.lastrowid}, status=202)

    app = web.Application()
    app.router.add_post("/messages", receive)
    return app


def postgres_app(url: str) -> web.Application:
    app = web.Application()
    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def connect(app: web.Application) -> None:
        app[pool_key] = await asyncpg.create_pool(url, min_size=10, max_size=10)
        async with app[pool_key].acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS bench_messages")
            await conn.execute(TABLE.format(pk="BIGSERIAL PRIMARY KEY"))

    async def close(app: web.Application) -> None:
        await app[pool_key].close()

    async def receive(request: web.Request) -> web.Response:
        message: dict[str, Any] = await request.json()
        row_id = await request.app[pool_key].fetchval(
            "INSERT INTO bench_messages (external_id, sender, body) VALUES ($1, $2, $3)"
            " RETURNING id",
            message["id"],
            message["from"]["address"],
            message["text"],
        )
        return web.json_response({"id": row_id}, status=202)

    app.on_startup.append(connect)
    app.on_cleanup.append(close)
    app.router.add_post("/messages", receive)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    if args.database.startswith("sqlite:///"):
        app = sqlite_app(args.database.removeprefix("sqlite:///"))
    else:
        app = postgres_app(args.database.replace("postgresql+asyncpg://", "postgresql://"))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
