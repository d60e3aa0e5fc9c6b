"""A customer's data as a zip (the GDPR right of access): JSON for the records, files beside.

The zip is written to a file on disk inside one read transaction, so what it holds is
one consistent moment and a large customer's attachments pass through memory one at a
time. ``hub/privacy_erase.py`` deletes what this exports; ``PRIVACY_TABLES`` there says,
for every table, whether it holds the customer's data and how each side treats it.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, and_, select

from hub.db.schema import (
    agents,
    attachments,
    contact_hours,
    conversations,
    customers,
    identities,
    identity_claims,
    messages,
    outbox,
)
from hub.errors import NotFound
from hub.satisfaction import satisfaction_of
from hub.serialize import iso
from hub.tags import tags_of

ATTACHMENTS = "attachments"
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
README = """\
Everything this support hub stores about customer {customer_id}, exported {at}.

customer.json       the customer: name, agreed channel, hours, zone and language, owner
                    and backup (agents' names), every identity (channel kind and address,
                    with what proved it is theirs) and every claim (an address they gave
                    without proof).
conversations.json  each conversation, oldest first, with its messages in order (what
                    the customer wrote and what the team answered: channel, text, HTML,
                    delivery state, times, the agent who wrote it), the team's internal
                    notes, and replies still waiting for the customer's hours.
attachments/        the files that came with messages, named
                    <message id>-<position>-<file name>; a file over the size limit
                    was never stored and is only listed in conversations.json.

Times are UTC (ISO 8601).
"""


@dataclass
class ExportCounts:
    """What an export held; the audit entry records these, never content."""

    identities: int = 0
    conversations: int = 0
    messages: int = 0
    attachments: int = 0

    def audit(self) -> dict[str, int]:
        return {
            "identities": self.identities,
            "conversations": self.conversations,
            "messages": self.messages,
            "attachments": self.attachments,
        }


def write_export(customer_id: int, now: datetime, target: IO[bytes], conn: Connection) -> dict:
    """A read unit: the customer's zip into ``target``; the counts for the audit entry."""
    customer = conn.execute(select(customers).where(customers.c.id == customer_id)).first()
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    counts = ExportCounts()
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README.format(customer_id=customer_id, at=iso(now)))
        about = customer_document(conn, customer)
        counts.identities = len(about["identities"])
        archive.writestr("customer.json", dumps(about))
        with archive.open("conversations.json", "w") as out:
            out.write(b"[")
            for number, thread in enumerate(conversations_document(conn, customer_id, counts)):
                out.write((b"," if number else b"") + dumps(thread).encode())
            out.write(b"]")
        for message_id, position, name in attachment_files(conn, customer_id):
            data = attachment_data(conn, message_id, position)
            # Files are mostly compressed already (PDF, JPEG, PNG): stored as they are.
            archive.writestr(file_name(message_id, position, name), data, zipfile.ZIP_STORED)
            counts.attachments += 1
    return counts.audit()


def dumps(value: Any) -> str:
    """Compact: with an indent, Python's JSON encoder is its slow pure-Python one (10x)."""
    return json.dumps(value, ensure_ascii=False)


def agent_names(conn: Connection) -> dict[int, str]:
    return {row.id: row.name for row in conn.execute(select(agents.c.id, agents.c.name))}


def customer_document(conn: Connection, row: Any) -> dict[str, Any]:
    names = agent_names(conn)
    hours = conn.execute(
        select(contact_hours.c.definition).where(
            contact_hours.c.scope == "customer", contact_hours.c.subject == str(row.id)
        )
    ).scalar()
    return {
        "id": row.id,
        "name": row.name,
        "created_at": iso(row.created_at),
        "owner": names.get(row.owner_id) if row.owner_id else None,
        "backup": names.get(row.backup_id) if row.backup_id else None,
        "always_reachable": row.always_reachable,
        "agreed_channel": row.agreed_channel,
        "contact_hours": hours,
        "zone": row.zone,
        "locale": row.locale,
        "identities": identities_of(conn, row.id),
        "claims": claims_of(conn, row.id),
    }


def identities_of(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(identities).where(identities.c.customer_id == customer_id).order_by(identities.c.id)
    )
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "address": row.address,
            "display_name": row.display_name,
            "proof": row.verified_by,
            "first_channel": row.first_channel,
            "last_channel": row.last_channel,
            "created_at": iso(row.created_at),
            "opted_out_channel": row.opted_out_channel,
            "opted_out_at": iso(row.opted_out_at),
        }
        for row in rows
    ]


def claims_of(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """The customer's own claims, without who else holds the address (another person's data)."""
    rows = conn.execute(
        select(identity_claims)
        .where(identity_claims.c.customer_id == customer_id)
        .order_by(identity_claims.c.id)
    )
    return [
        {
            "kind": row.kind,
            "address": row.address,
            "channel": row.channel,
            "reason": row.reason,
            "created_at": iso(row.created_at),
        }
        for row in rows
    ]


def conversations_document(
    conn: Connection, customer_id: int, counts: ExportCounts
) -> Iterator[dict[str, Any]]:
    """One conversation at a time, so only the largest one is ever in memory."""
    names = agent_names(conn)
    rows = conn.execute(
        select(conversations)
        .where(conversations.c.customer_id == customer_id)
        .order_by(conversations.c.created_at, conversations.c.id)
    ).all()
    counts.conversations = len(rows)
    for row in rows:
        written = list(messages_of(conn, row.id, names))
        counts.messages += len(written)
        yield {
            "id": row.id,
            "state": row.state,
            "handled_by": names.get(row.assignee_id) if row.assignee_id else None,
            "created_at": iso(row.created_at),
            "last_message_at": iso(row.last_message_at),
            "first_replied_at": iso(row.first_replied_at),
            "reply_due_at": iso(row.reply_due_at),
            "resolved_at": iso(row.resolved_at),
            "messages": [m for m in written if m["direction"] != "note"],
            "notes": [m for m in written if m["direction"] == "note"],
            "scheduled_replies": [m["id"] for m in written if m["state"] == "scheduled"],
            "tags": [tag["name"] for tag in tags_of(conn, [row.id])[row.id]],
            "satisfaction": satisfaction_of(conn, row.id),
        }


def messages_of(
    conn: Connection, conversation_id: int, names: dict[int, str]
) -> Iterator[dict[str, Any]]:
    rows = conn.execute(
        select(
            messages,
            identities.c.kind.label("identity_kind"),
            identities.c.address.label("identity_address"),
            outbox.c.state.label("delivery_state"),
            outbox.c.attempts.label("delivery_attempts"),
            outbox.c.last_error.label("delivery_error"),
        )
        .outerjoin(identities, identities.c.id == messages.c.identity_id)
        .outerjoin(outbox, outbox.c.message_id == messages.c.id)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.created_at, messages.c.id)
    )
    files = attachments_listed(conn, conversation_id)
    for row in rows:
        yield {
            "id": row.id,
            "direction": row.direction,
            "channel": row.channel,
            "identity": (
                {"kind": row.identity_kind, "address": row.identity_address}
                if row.identity_kind
                else None
            ),
            "external_id": row.external_id,
            "author": names.get(row.author_id) if row.author_id else None,
            "text": row.text,
            "html": row.html,
            "state": row.state,
            "error": row.error,
            "meta": row.meta or {},
            "created_at": iso(row.created_at),
            "sent_at": iso(row.sent_at),
            "release_at": iso(row.release_at),
            "delivery": (
                {
                    "state": row.delivery_state,
                    "attempts": row.delivery_attempts,
                    "last_error": row.delivery_error,
                }
                if row.delivery_state
                else None
            ),
            "attachments": files.get(row.id, []),
        }


def attachments_listed(conn: Connection, conversation_id: int) -> dict[int, list[dict[str, Any]]]:
    """The files of a conversation's messages, by message id (one query, not one a message)."""
    rows = conn.execute(
        select(
            attachments.c.message_id,
            attachments.c.position,
            attachments.c.name,
            attachments.c.content_type,
            attachments.c.size,
            attachments.c.data.is_not(None).label("stored"),
        )
        .join(messages, messages.c.id == attachments.c.message_id)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(attachments.c.message_id, attachments.c.position)
    )
    listed: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        listed[row.message_id].append(
            {
                "position": row.position,
                "name": row.name,
                "content_type": row.content_type,
                "size": row.size,
                "stored": bool(row.stored),
            }
        )
    return listed


def attachment_files(conn: Connection, customer_id: int) -> list[tuple[int, int, str]]:
    """Which stored files to add (their bytes are read one at a time, not all at once)."""
    rows = conn.execute(
        select(attachments.c.message_id, attachments.c.position, attachments.c.name)
        .join(messages, messages.c.id == attachments.c.message_id)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .where(conversations.c.customer_id == customer_id, attachments.c.data.is_not(None))
        .order_by(attachments.c.message_id, attachments.c.position)
    )
    return [(row.message_id, row.position, row.name) for row in rows]


def attachment_data(conn: Connection, message_id: int, position: int) -> bytes:
    return conn.execute(
        select(attachments.c.data).where(
            and_(attachments.c.message_id == message_id, attachments.c.position == position)
        )
    ).scalar_one()


def file_name(message_id: int, position: int, name: str) -> str:
    """``attachments/<message id>-<position>-<name>``: unique by the first two (one file per
    message and position), and the name cut to safe characters, never a path."""
    safe = UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")[:100]
    return f"{ATTACHMENTS}/{message_id}-{position}-{safe or 'file'}"
