"""``POST /api/conversations/{id}/uploads``: a file for a reply, streamed in up to
``http.max_upload_bytes`` (multipart, the part named ``file``); the reply names its id."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from connectors.media import readable_size
from hub.api.answers import Answer
from hub.api.framework import Access, Api, Call, FileUpload
from hub.api.inbox import CONVERSATION
from hub.auth import Principal
from hub.conversations import check_access
from hub.db.database import Tx
from hub.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from hub.listener import refuse_slow_body
from hub.uploads import safe_file_name, store_upload

CHUNK_BYTES = 256 * 1024
BROKEN_FORM = (ValueError, HttpProcessingError)
"""What aiohttp raises for a form it cannot parse (no boundary, a header it refuses)."""
uploads_api = Api()
FILE = FileUpload(
    "file", "the file; its name is kept (sanitized), its type checked against its content"
)


class Uploaded(Answer):
    id: int
    name: str
    content_type: str
    size: int


@uploads_api.route(
    "POST",
    CONVERSATION + "/uploads",
    summary="Upload a file for a reply in this conversation (its id goes into the reply's "
    "attachment_ids); files no reply sent are deleted after a day",
    access=Access.AGENT,
    tag="inbox",
    body=FILE,
    status=201,
    response=Uploaded,
)
async def upload(call: Call) -> dict[str, Any] | web.StreamResponse:
    conversation_id = call.path_int("conversation_id")
    await call.hub.db.read(lambda conn: check_access(conn, call.agent, conversation_id))
    http = call.hub.settings.http
    try:
        async with asyncio.timeout(http.body_timeout_seconds):
            name, declared, data = await read_file(call.request, FILE.field, http.max_upload_bytes)
    except TimeoutError:
        return await refuse_slow_body(call.request, http.body_timeout_seconds)
    return await call.hub.db.write(
        partial(keep_upload, call.agent, conversation_id, name, declared, data)
    )


def keep_upload(
    principal: Principal, conversation_id: int, name: str, declared: str, data: bytes, tx: Tx
) -> dict[str, Any]:
    check_access(tx.conn, principal, conversation_id)
    return store_upload(principal, conversation_id, name, declared, data, tx)


async def file_part(request: web.Request, field: str) -> BodyPartReader | None:
    """The form's part named ``field`` (the parts before it skipped), or None."""
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and not (isinstance(part, BodyPartReader) and part.name == field):
        await part.release()
        part = await reader.next()
    return part if isinstance(part, BodyPartReader) else None


async def read_file(request: web.Request, field: str, limit: int) -> tuple[str, str, bytes]:
    """The ``field`` part's sanitized name, declared type and bytes; 413 naming the file
    as soon as it passes ``limit``."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType(
            f"send the file as multipart/form-data (a part named {field}), not "
            f"{request.content_type}"
        )
    try:
        part = await file_part(request, field)
    except BROKEN_FORM as error:
        raise BadRequest(f"the body is not a valid multipart/form-data form: {error}") from None
    if part is None:
        raise Unprocessable.in_field(field, f"no part named {field} in the form")
    name = safe_file_name(part.filename or "")
    data = bytearray()
    try:
        while chunk := await part.read_chunk(CHUNK_BYTES):
            data += chunk
            if len(data) > limit:
                raise PayloadTooLarge(
                    f"{name} is larger than {readable_size(limit)}, the largest file the hub "
                    "takes (http.max_upload_bytes)"
                )
    except BROKEN_FORM as error:
        raise BadRequest(f"the file part of the form is broken: {error}") from None
    return name, part.headers.get("Content-Type", ""), bytes(data)
