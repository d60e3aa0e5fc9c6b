"""PostgreSQL connections of their own, outside the pool: for LISTEN and session locks."""

from __future__ import annotations

import asyncpg

CONNECTION_TROUBLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # Not an InterfaceError: a connection left mid-operation when the server shut down.
    asyncpg.InternalClientError,
)
"""What a dedicated connection raises when PostgreSQL goes away: reconnect, never crash."""


async def dedicated_connection(url: str, purpose: str) -> asyncpg.Connection:
    """Connect to the hub's database as ``hub <purpose>`` (``application_name``).

    The name shows in ``pg_stat_activity``, so operators see what each hub
    connection is for (``hub events``, ``hub poller telegram:tg``).
    """
    return await asyncpg.connect(
        url.replace("postgresql+asyncpg://", "postgresql://", 1),
        server_settings={"application_name": f"hub {purpose}"},
    )
