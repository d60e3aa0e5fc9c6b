"""Files in WhatsApp replies: what kind each goes as, its limits, the upload, the message.

Each file is uploaded to ``POST /<version>/<phone number id>/media`` (multipart,
``messaging_product=whatsapp``), then sent as a message of its kind naming the media id
(``{"type": "image", "image": {"id": ..., "caption": ...}}``; a document keeps its
filename). The reply's text is the first file's caption when it fits WhatsApp's 1024
characters (audio has none), else it leaves first, as text messages
(``connectors/file_steps.py``); ``Delivery.media_ids`` keeps the files WhatsApp holds, so
a retry neither uploads nor sends twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from connectors import file_steps
from connectors.base import Attachment, TransientError
from connectors.file_steps import Step as Step
from connectors.media import MB, FileRefusal, size_refusal

MAX_TEXT_CHARS = 4096
MAX_CAPTION_CHARS = 1024
DOCUMENT_TYPES = (
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
)
KINDS = {
    "image/jpeg": "image",
    "image/png": "image",
    "video/mp4": "video",
    "video/3gpp": "video",
    "audio/aac": "audio",
    "audio/amr": "audio",
    "audio/mpeg": "audio",
    "audio/mp4": "audio",
    "audio/ogg": "audio",
    **dict.fromkeys(DOCUMENT_TYPES, "document"),
}
"""The media types WhatsApp sends (Cloud API, supported media types), by kind; it refuses
any other, and a sticker (WebP) is not a reply's file."""
SENDABLE = (
    "JPEG and PNG pictures, MP4 and 3GPP videos, AAC, AMR, MP3, MP4 and OGG audio, "
    "and PDF, plain text and Word, Excel and PowerPoint documents"
)
LIMITS = {"image": 5 * MB, "video": 16 * MB, "audio": 16 * MB, "document": 100 * MB}
"""WhatsApp's largest file of each kind (Cloud API, supported media types)."""
CAPTIONED = frozenset({"image", "video", "document"})
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=300)
"""A 100 MB document takes longer than a message call's 15 seconds."""

Call = Callable[..., Awaitable[dict[str, Any]]]


def media_kind(content_type: str) -> str:
    """What a file WhatsApp sends goes as (``file_refusal`` said it sends it)."""
    return KINDS[content_type]


def file_refusal(file: Attachment) -> FileRefusal | None:
    """Why WhatsApp would not take the file; ``None``: it would."""
    kind = KINDS.get(file.content_type)
    if kind is None:
        return FileRefusal(f"WhatsApp does not send {file.content_type} files, only {SENDABLE}")
    return size_refusal(file.size, LIMITS[kind], f"WhatsApp sends {kind} files")


def steps_of(text: str, files: Sequence[Attachment]) -> list[Step]:
    """The messages a reply leaves as: audio carries no caption."""
    return file_steps.steps_of(
        text,
        files,
        MAX_TEXT_CHARS,
        MAX_CAPTION_CHARS,
        lambda file: media_kind(file.content_type) in CAPTIONED,
    )


def text_content(text: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": text}}


def media_content(file: Attachment, media_id: str, caption: str | None) -> dict[str, Any]:
    kind = media_kind(file.content_type)
    media: dict[str, Any] = {"id": media_id}
    if caption:
        media["caption"] = caption
    if kind == "document":
        media["filename"] = file.name
    return {"type": kind, kind: media}


async def upload(call: Call, url: str, file: Attachment) -> str:
    """The file uploaded to the media endpoint; its media id."""
    form = aiohttp.FormData()
    form.add_field("messaging_product", "whatsapp")
    form.add_field("type", file.content_type)
    form.add_field("file", file.data or b"", filename=file.name, content_type=file.content_type)
    answer = await call("POST", url, data=form, timeout=UPLOAD_TIMEOUT)
    media_id = str(answer.get("id") or "")
    if not media_id:
        raise TransientError("WhatsApp answered a media upload without a media id")
    return media_id
