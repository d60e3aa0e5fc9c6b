"""Whose a conversation is: its assignee and the customer's owner, who see it and are told
what happens in it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from hub.db.schema import conversations, customers
from hub.errors import NotFound


@dataclass(frozen=True)
class ConversationAccess:
    """A conversation as an access check sees it: whose it is and who may act in it."""

    conversation_id: int
    customer_id: int
    assignee_id: int | None
    owner_id: int | None
    state: str

    @property
    def audience(self) -> list[int]:
        return [a for a in dict.fromkeys((self.assignee_id, self.owner_id)) if a]


def load_access(conn: Connection, conversation_id: int) -> ConversationAccess:
    row = conn.execute(
        select(
            conversations.c.id,
            conversations.c.customer_id,
            conversations.c.assignee_id,
            conversations.c.state,
            customers.c.owner_id,
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(conversations.c.id == conversation_id)
    ).first()
    if row is None:
        raise NotFound(f"conversation {conversation_id} does not exist")
    return ConversationAccess(row.id, row.customer_id, row.assignee_id, row.owner_id, row.state)
