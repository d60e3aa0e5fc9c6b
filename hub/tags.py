"""Tags on conversations: admins keep the list (name, colour), agents put them on the
conversations they may see. Every change is audited and told to the inboxes live."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from hub.assignment import record_audit
from hub.auth import Principal
from hub.conversations import check_access
from hub.db.database import Tx
from hub.db.schema import conversation_tags, conversations, tags
from hub.errors import Conflict, NotFound

TAGS_CHANGED = "tags.changed"
"""Event to every agent: the admins' list changed (reload the menu and the chips)."""
CONVERSATION_TAGS = "conversation.tags"
"""Event to a conversation's audience: its tags are now ``data.tags``."""


def tag_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "colour": row.colour}


def list_tags(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(tags).order_by(tags.c.name_key, tags.c.id))
    return [tag_json(row) for row in rows]


def tags_of(conn: Connection, conversation_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The tags of each conversation (by name; an empty list for one without), in one query.

    For any answer that shows conversations: the inbox list, search, reports.
    """
    found: dict[int, list[dict[str, Any]]] = {cid: [] for cid in conversation_ids}
    if not conversation_ids:
        return found
    rows = conn.execute(
        select(conversation_tags.c.conversation_id, tags.c.id, tags.c.name, tags.c.colour)
        .join(tags, tags.c.id == conversation_tags.c.tag_id)
        .where(conversation_tags.c.conversation_id.in_(conversation_ids))
        .order_by(tags.c.name_key, tags.c.id)
    )
    for row in rows:
        found[row.conversation_id].append(tag_json(row))
    return found


def with_tags(conn: Connection, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``tags`` to each conversation summary."""
    found = tags_of(conn, [summary["id"] for summary in summaries])
    for summary in summaries:
        summary["tags"] = found[summary["id"]]
    return summaries


def tagged(tag_id: int) -> Any:
    """A ``where`` clause: conversations that carry the tag."""
    carrying = select(conversation_tags.c.conversation_id).where(
        conversation_tags.c.tag_id == tag_id
    )
    return conversations.c.id.in_(carrying)


def create_tag(actor_id: int, name: str, colour: str, tx: Tx) -> dict[str, Any]:
    _refuse_taken_name(tx.conn, name, None)
    row = {"name": name, "name_key": name.casefold(), "colour": colour.lower()}
    tag_id = tx.conn.execute(insert(tags).values(**row, created_at=tx.now)).inserted_primary_key[0]
    tag = {"id": tag_id, "name": name, "colour": row["colour"]}
    record_audit(tx, actor_id, "tag.created", "tag", tag_id, name=name, colour=row["colour"])
    _tell_everyone(tx, tag, deleted=False)
    return tag


def update_tag(
    actor_id: int, tag_id: int, name: str | None, colour: str | None, tx: Tx
) -> dict[str, Any]:
    """Rename and/or recolour; the audit entry keeps both the old and the new values."""
    before = _load_tag(tx.conn, tag_id)
    changes: dict[str, str] = {}
    if name is not None and name != before["name"]:
        _refuse_taken_name(tx.conn, name, tag_id)
        changes.update(name=name, name_key=name.casefold())
    if colour is not None and colour.lower() != before["colour"]:
        changes["colour"] = colour.lower()
    if not changes:
        return before
    tx.conn.execute(update(tags).where(tags.c.id == tag_id).values(**changes))
    after = {**before, **{k: v for k, v in changes.items() if k in before}}
    record_audit(tx, actor_id, "tag.updated", "tag", tag_id, before=before, after=after)
    _tell_everyone(tx, after, deleted=False)
    return after


def delete_tag(actor_id: int, tag_id: int, tx: Tx) -> dict[str, Any]:
    """Delete the tag, taking it off every conversation that carries it (the audit entry
    names them, so the removal can be traced)."""
    tag = _load_tag(tx.conn, tag_id)
    carried_by = list(
        tx.conn.execute(
            select(conversation_tags.c.conversation_id)
            .where(conversation_tags.c.tag_id == tag_id)
            .order_by(conversation_tags.c.conversation_id)
        ).scalars()
    )
    tx.conn.execute(delete(conversation_tags).where(conversation_tags.c.tag_id == tag_id))
    tx.conn.execute(delete(tags).where(tags.c.id == tag_id))
    record_audit(
        tx, actor_id, "tag.deleted", "tag", tag_id, name=tag["name"], removed_from=carried_by
    )
    _tell_everyone(tx, tag, deleted=True)
    return {"id": tag_id, "deleted": True}


def add_tag(principal: Principal, conversation_id: int, tag_id: int, tx: Tx) -> list[dict]:
    """Put one of the admins' tags on a conversation the agent may see (again: no change)."""
    access = check_access(tx.conn, principal, conversation_id)
    tag = _load_tag(tx.conn, tag_id)
    already = tx.conn.execute(
        select(conversation_tags.c.tag_id).where(
            conversation_tags.c.conversation_id == conversation_id,
            conversation_tags.c.tag_id == tag_id,
        )
    ).first()
    if already is None:
        tx.conn.execute(
            insert(conversation_tags).values(
                conversation_id=conversation_id,
                tag_id=tag_id,
                added_by=principal.agent_id,
                added_at=tx.now,
            )
        )
        _tagging_changed(tx, principal, access.audience, conversation_id, "added", tag)
    return tags_of(tx.conn, [conversation_id])[conversation_id]


def remove_tag(principal: Principal, conversation_id: int, tag_id: int, tx: Tx) -> list[dict]:
    """Take a tag off a conversation the agent may see (not on it: no change)."""
    access = check_access(tx.conn, principal, conversation_id)
    tag = _load_tag(tx.conn, tag_id)
    removed = tx.conn.execute(
        delete(conversation_tags).where(
            conversation_tags.c.conversation_id == conversation_id,
            conversation_tags.c.tag_id == tag_id,
        )
    ).rowcount
    if removed:
        _tagging_changed(tx, principal, access.audience, conversation_id, "removed", tag)
    return tags_of(tx.conn, [conversation_id])[conversation_id]


def _tagging_changed(
    tx: Tx,
    principal: Principal,
    audience: list[int],
    conversation_id: int,
    change: str,
    tag: dict[str, Any],
) -> None:
    record_audit(
        tx,
        principal.agent_id,
        f"conversation.tag_{change}",
        "conversation",
        conversation_id,
        tag_id=tag["id"],
        tag=tag["name"],
    )
    tx.emit(
        CONVERSATION_TAGS,
        {
            "conversation_id": conversation_id,
            "tags": tags_of(tx.conn, [conversation_id])[conversation_id],
        },
        to=[*audience, principal.agent_id],
        conversation_id=conversation_id,
    )


def _tell_everyone(tx: Tx, tag: dict[str, Any], *, deleted: bool) -> None:
    tx.emit(TAGS_CHANGED, {"tag": tag, "deleted": deleted}, to=[None])


def _load_tag(conn: Connection, tag_id: int) -> dict[str, Any]:
    row = conn.execute(select(tags).where(tags.c.id == tag_id)).first()
    if row is None:
        raise NotFound(f"tag {tag_id} does not exist: an admin adds tags in the console")
    return tag_json(row)


def _refuse_taken_name(conn: Connection, name: str, tag_id: int | None) -> None:
    """Names are unique whatever their case: "VIP" and "vip" would be one tag twice."""
    holder = conn.execute(select(tags.c.id).where(tags.c.name_key == name.casefold())).scalar()
    if holder is not None and holder != tag_id:
        raise Conflict(f'a tag named "{name}" already exists (tag {holder})', tag_id=holder)


def fold_tags(tx: Tx, source_id: int, target_id: int) -> None:
    """A conversation folded into another (customers merged): its tags join the target's."""
    on_target = conversation_tags.c.conversation_id == target_id
    kept = select(conversation_tags.c.tag_id).where(on_target)
    tx.conn.execute(
        delete(conversation_tags).where(
            conversation_tags.c.conversation_id == source_id, conversation_tags.c.tag_id.in_(kept)
        )
    )
    tx.conn.execute(
        update(conversation_tags)
        .where(conversation_tags.c.conversation_id == source_id)
        .values(conversation_id=target_id)
    )
