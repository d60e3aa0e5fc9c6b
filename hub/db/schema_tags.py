"""The tables of tags on conversations: the admins' list and which conversation has which.

Registered on ``hub.db.schema.metadata``; import them from ``hub.db.schema``.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from hub.db.columns import Id, UtcDateTime, metadata

TAG_NAME_CHARS = 40
NAME_KEY_CHARS = 3 * TAG_NAME_CHARS
"""Case folding can lengthen a name (``"ß".casefold() == "ss"``), at most threefold."""

tags = Table(
    "tags",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(TAG_NAME_CHARS), nullable=False),
    Column("name_key", String(NAME_KEY_CHARS), nullable=False, unique=True),
    Column("colour", String(7), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
"""Tags admins keep; ``name_key`` is the case-folded name, so "VIP" and "vip" are one tag.
``colour`` is ``#rrggbb`` (lower case), checked before it is stored."""

conversation_tags = Table(
    "conversation_tags",
    metadata,
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True),
    Column("tag_id", Id, ForeignKey("tags.id"), primary_key=True),
    Column("added_by", Id, ForeignKey("agents.id"), nullable=True),
    Column("added_at", UtcDateTime, nullable=False),
    Index("ix_conversation_tags_tag_id", "tag_id"),
)
"""Which conversation carries which tag, who added it and when."""
