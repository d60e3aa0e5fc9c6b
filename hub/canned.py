"""Canned responses: reply snippets admins keep and agents insert into the reply box."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from hub.assignment import record_audit
from hub.db.database import Tx
from hub.db.schema import canned_responses
from hub.errors import NotFound


def canned_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "text": row.text}


def list_canned(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(canned_responses).order_by(canned_responses.c.title, canned_responses.c.id)
    )
    return [canned_json(row) for row in rows]


def create_canned(actor_id: int, title: str, text: str, tx: Tx) -> dict[str, Any]:
    canned_id = tx.conn.execute(
        insert(canned_responses).values(
            title=title, text=text, created_by=actor_id, created_at=tx.now
        )
    ).inserted_primary_key[0]
    record_audit(tx, actor_id, "canned.created", "canned_response", canned_id, title=title)
    return {"id": canned_id, "title": title, "text": text}


def delete_canned(actor_id: int, canned_id: int, tx: Tx) -> dict[str, Any]:
    title = tx.conn.execute(
        select(canned_responses.c.title).where(canned_responses.c.id == canned_id)
    ).scalar()
    if title is None:
        raise NotFound(f"canned response {canned_id} does not exist")
    tx.conn.execute(delete(canned_responses).where(canned_responses.c.id == canned_id))
    record_audit(tx, actor_id, "canned.deleted", "canned_response", canned_id, title=title)
    return {"id": canned_id, "deleted": True}
