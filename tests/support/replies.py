"""What the channel tests read back: stored customer messages, a reply's state, and the
admin's reply that makes one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.app import Hub
from hub.db.schema import identities, messages
from tests.support.hubs import Browser


async def stored(hub: Hub) -> list[dict[str, Any]]:
    """The customers' messages with their identities, oldest first."""

    def read(conn: Any) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(
                messages.c.id,
                messages.c.external_id,
                messages.c.text,
                messages.c.meta,
                messages.c.conversation_id,
                identities.c.kind,
                identities.c.address,
                identities.c.customer_id,
            )
            .join(identities, identities.c.id == messages.c.identity_id)
            .where(messages.c.direction == "in")
            .order_by(messages.c.id)
        )
        return [dict(row._mapping) for row in rows]

    return await hub.db.read(read)


async def message_state(hub: Hub, message_id: int) -> tuple[str, str | None, dict[str, Any]]:
    """A message's state, error and meta."""

    def read(conn: Any) -> Any:
        return conn.execute(
            select(messages.c.state, messages.c.error, messages.c.meta).where(
                messages.c.id == message_id
            )
        ).one()

    row = await hub.db.read(read)
    return row.state, row.error, row.meta or {}


async def reply(
    team: dict[str, Browser], conversation_id: int, text: str, expect: int = 202
) -> Any:
    """An admin's reply (admins may write in any conversation); the API's answer."""
    return await team["admin"].post(
        f"/api/conversations/{conversation_id}/replies", {"text": text}, expect=expect
    )
