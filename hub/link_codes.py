"""One-time codes that link an agent's Telegram chat to their notifications.

The agent asks for a code in their settings and sends ``/start <code>`` to the
hub's bot (a deep link does that in one tap). The code is kept only as an HMAC
with the hub's secret key, lives 10 minutes and works once; the chat that
presents it becomes the agent's notification address. Such a message is not a
customer's: it is never stored as one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from connectors.abilities import StartLinks
from connectors.base import Cursor
from hub.channel_support import save_state
from hub.db.database import Tx
from hub.db.schema import agent_link_codes
from hub.errors import Conflict
from hub.notify_settings import link_chat

if TYPE_CHECKING:
    from hub.app import Hub

LIFETIME = timedelta(minutes=10)


def code_hash(secret_key: bytes, code: str) -> str:
    return hmac.new(secret_key, code.encode(), hashlib.sha256).hexdigest()


def telegram_channel(hub: Hub) -> str:
    """The hub's first enabled Telegram channel: whose bot the agent links to."""
    found = next((n for n, c in hub.connectors.items() if c.identity_kind == "telegram"), None)
    if found is None:
        raise Conflict("this hub has no Telegram channel to link a chat with")
    return found


async def issue_code(hub: Hub, agent_id: int) -> dict[str, Any]:
    """A fresh code for ``agent_id`` and how to use it (the bot's deep link, when known)."""
    channel = telegram_channel(hub)
    code = secrets.token_urlsafe(12)

    def store(tx: Tx) -> None:
        tx.conn.execute(
            insert(agent_link_codes).values(
                agent_id=agent_id,
                channel=channel,
                code_hash=code_hash(hub.secret_key, code),
                created_at=tx.now,
                expires_at=tx.now + LIFETIME,
            )
        )

    await hub.db.write(store)
    connector = hub.connectors[channel]
    link = await connector.start_link(code) if isinstance(connector, StartLinks) else None
    return {
        "channel": channel,
        "code": code,
        "send": f"/start {code}",
        "link": link,
        "expires_at": (hub.clock.now() + LIFETIME).isoformat(),
    }


def redeem(
    secret_key: bytes, channel: str, code: str, chat_id: str, cursor: Cursor | None, tx: Tx
) -> bool:
    """Link ``chat_id`` to the agent whose live code this is; ``False`` when it is none."""
    row = tx.conn.execute(
        select(agent_link_codes.c.id, agent_link_codes.c.agent_id).where(
            agent_link_codes.c.code_hash == code_hash(secret_key, code),
            agent_link_codes.c.channel == channel,
            agent_link_codes.c.used_at.is_(None),
            agent_link_codes.c.expires_at > tx.now,
        )
    ).one_or_none()
    if row is None:
        return False
    spent = tx.conn.execute(
        update(agent_link_codes)
        .where(agent_link_codes.c.id == row.id, agent_link_codes.c.used_at.is_(None))
        .values(used_at=tx.now)
    )
    if not spent.rowcount:
        return False  # another process redeemed it meanwhile
    link_chat(tx, row.agent_id, channel, chat_id)
    if cursor is not None:
        save_state(cursor.key, cursor.value, tx)
    return True


async def link_chat_with_code(
    hub: Hub, channel: str, code: str, chat_id: str, cursor: Cursor | None
) -> bool:
    return await hub.db.write(partial(redeem, hub.secret_key, channel, code, chat_id, cursor))
