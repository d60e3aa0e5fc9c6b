"""Files agents attach to replies: uploaded first, then sent with the reply that names them.

An upload is an ``attachments`` row that names its conversation and uploader and no
message yet; the reply that names it (``attachment_ids``) takes it in the same
transaction, once its channel said it can send it (``connectors.abilities.SendsFiles``).
Uploads no reply took are deleted a day later, at the next upload to any conversation.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from connectors.abilities import SendsFiles
from connectors.base import Attachment, Connector
from connectors.media import UNKNOWN_MEDIA_TYPE, safe_media_type
from hub.auth import Principal
from hub.db.database import Tx
from hub.db.schema import attachments
from hub.errors import Conflict, PayloadTooLarge, Unprocessable

UNSENT_LIFETIME = timedelta(days=1)
LONGEST_NAME = 255
SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"%PDF-", 0, "application/pdf"),
    (b"OggS", 0, "audio/ogg"),
)
"""Leading bytes (at an offset) that say what a file is, whatever it was declared as."""
SIGNED_TYPES = frozenset(media_type for _, _, media_type in SIGNATURES)
PATH_SEPARATORS = re.compile(r"[/\\]")
CONTAINERS = ("multipart/", "message/")
"""Types no single file is: taken for a file of unknown type."""


@dataclass(frozen=True)
class Upload:
    """An uploaded file, as a reply checks it (its data stays in the database)."""

    id: int
    name: str
    content_type: str
    size: int

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
        }


def safe_file_name(name: str) -> str:
    """The last path segment of what the browser sent, without control characters, at most
    255 characters (the extension kept); ``file`` if nothing is left."""
    base = PATH_SEPARATORS.split(unicodedata.normalize("NFC", name))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    if len(base) > LONGEST_NAME:
        suffix = PurePosixPath(base).suffix[:20]
        base = base[: LONGEST_NAME - len(suffix)] + suffix
    return base or "file"


def sniffed_type(data: bytes, declared: str, name: str) -> str:
    """What the file is: by its leading bytes where they say, else as declared (a safe media
    type), else by its name's extension, else unknown; a declared type its bytes contradict
    is refused, and a container type, declared or guessed, is taken for unknown."""
    for signature, offset, media_type in SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return media_type
    stated = safe_media_type(declared)
    if stated in SIGNED_TYPES:
        raise Unprocessable.in_field("file", f"{name} is declared {stated} but its content is not")
    guessed, _ = mimetypes.guess_type(name)
    for candidate in (stated, safe_media_type(guessed or UNKNOWN_MEDIA_TYPE)):
        if candidate != UNKNOWN_MEDIA_TYPE and not candidate.startswith(CONTAINERS):
            return candidate
    return UNKNOWN_MEDIA_TYPE


def store_upload(
    principal: Principal, conversation_id: int, name: str, declared: str, data: bytes, tx: Tx
) -> dict[str, Any]:
    """Keep the file for a reply in the conversation (the caller checked the agent may
    write there); unsent uploads older than a day go, whichever conversation they are for."""
    if not data:
        raise Unprocessable.in_field("file", f"{name} is empty")
    content_type = sniffed_type(data, declared, name)
    tx.conn.execute(
        delete(attachments).where(
            attachments.c.message_id.is_(None),
            attachments.c.uploaded_at < tx.now - UNSENT_LIFETIME,
        )
    )
    upload_id = tx.conn.execute(
        insert(attachments).values(
            message_id=None,
            position=0,
            name=name,
            content_type=content_type,
            size=len(data),
            data=data,
            conversation_id=conversation_id,
            uploaded_by=principal.agent_id,
            uploaded_at=tx.now,
        )
    ).inserted_primary_key[0]
    return Upload(upload_id, name, content_type, len(data)).json()


@dataclass(frozen=True)
class ReplyFiles:
    """The uploads a reply names and the connectors that might send them."""

    upload_ids: tuple[int, ...] = ()
    connectors: Mapping[str, Connector] | None = None

    def checked(self, conn: Connection, conversation_id: int, channel: str) -> list[Upload]:
        connector = (self.connectors or {}).get(channel)
        return files_for_reply(conn, conversation_id, channel, connector, self.upload_ids)


NO_FILES = ReplyFiles()


def files_for_reply(
    conn: Connection,
    conversation_id: int,
    channel: str,
    connector: Connector | None,
    upload_ids: Sequence[int],
) -> list[Upload]:
    """The uploads a reply names, in its order, once the channel can send each of them:
    422 naming a channel that sends no files or an upload that is not this conversation's
    to send or a file of a type the channel does not send, 413 naming a file too large
    for it."""
    if not upload_ids:
        return []
    if not isinstance(connector, SendsFiles):
        reason = f"channel {channel} cannot send files: send the text alone or reply on another"
        raise Unprocessable.in_field("attachment_ids", reason)
    rows = conn.execute(
        select(
            attachments.c.id,
            attachments.c.name,
            attachments.c.content_type,
            attachments.c.size,
        ).where(
            attachments.c.id.in_(upload_ids),
            attachments.c.conversation_id == conversation_id,
            attachments.c.message_id.is_(None),
        )
    ).all()
    found = {row.id: Upload(row.id, row.name, row.content_type, row.size) for row in rows}
    if missing := [str(i) for i in upload_ids if i not in found]:
        reason = f"no unsent upload of this conversation has id {', '.join(missing)}"
        raise Unprocessable.in_field("attachment_ids", reason)
    files = [found[i] for i in upload_ids]
    for file in files:
        refusal = connector.file_refusal(Attachment(file.name, file.content_type, file.size))
        if refusal is None:
            continue
        reason = f"{file.name} cannot go by channel {channel}: {refusal.reason}"
        if refusal.too_large:
            raise PayloadTooLarge(reason, problems=[{"field": "attachment_ids", "reason": reason}])
        raise Unprocessable.in_field("attachment_ids", reason)
    return files


def files_meta(files: Sequence[Upload]) -> dict[str, Any]:
    """The reply's meta listing its files as an inbound message's lists them."""
    if not files:
        return {}
    listed = [
        {"name": f.name, "content_type": f.content_type, "size": f.size, "stored": True}
        for f in files
    ]
    return {"attachments": listed}


def attach_files(tx: Tx, message_id: int, files: Sequence[Upload]) -> None:
    """The uploads become the reply's attachments, in order (0, 1, ...); one another reply
    took meanwhile refuses this one (409)."""
    for position, file in enumerate(files):
        taken = tx.conn.execute(
            update(attachments)
            .where(attachments.c.id == file.id, attachments.c.message_id.is_(None))
            .values(message_id=message_id, position=position)
        )
        if taken.rowcount != 1:
            raise Conflict(f"{file.name} was just sent with another reply")


def files_of(conn: Connection, message_ids: Sequence[int]) -> dict[int, tuple[Attachment, ...]]:
    """The files of messages to send, with their data, by message id."""
    rows = conn.execute(
        select(
            attachments.c.message_id,
            attachments.c.name,
            attachments.c.content_type,
            attachments.c.size,
            attachments.c.data,
        )
        .where(attachments.c.message_id.in_(message_ids), attachments.c.data.is_not(None))
        .order_by(attachments.c.message_id, attachments.c.position)
    ).all()
    found: dict[int, tuple[Attachment, ...]] = {}
    for row in rows:
        file = Attachment(row.name, row.content_type, row.size, row.data)
        found[row.message_id] = (*found.get(row.message_id, ()), file)
    return found
