"""Rows to the JSON the API and the live events speak."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def message_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A message; ``author_name`` comes from a join with agents where the query made one.

    ``automatic``: the hub wrote it (an auto-reply), no agent did.
    """
    meta = row.get("meta") or {}
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "direction": row["direction"],
        "channel": row["channel"],
        "identity_id": row["identity_id"],
        "author_id": row["author_id"],
        "author_name": row.get("author_name"),
        "text": row["text"],
        "html": row["html"],
        "state": row["state"],
        "error": row["error"],
        "created_at": iso(row["created_at"]),
        "sent_at": iso(row["sent_at"]),
        "release_at": iso(row.get("release_at")),
        "automatic": bool(meta.get("autoreply")),
        "meta": meta,
    }


def identity_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "address": row["address"],
        "display_name": row["display_name"],
        "last_channel": row["last_channel"],
        "verified_by": row["verified_by"],
        "opted_out_channel": row.get("opted_out_channel"),
        "opted_out_at": iso(row.get("opted_out_at")),
    }


def agent_json(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"],
        "role": row["role"],
        "active": row["active"],
        "away": row["away"],
        "backup_id": row["backup_id"],
        "two_factor": row["totp_secret"] is not None,
    }
