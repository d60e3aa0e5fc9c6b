"""Files in Telegram replies: JPEG and PNG pictures up to 10 MB by sendPhoto, any other file
by sendDocument (its name kept), each a message of its own; the text as the first file's
caption when it fits 1024 characters (``connectors/file_steps.py``)."""

from __future__ import annotations

from telegram import Bot, Message

from connectors.base import Attachment
from connectors.media import MB, FileRefusal, size_refusal

MAX_CAPTION_CHARS = 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
MAX_PHOTO_BYTES = 10 * MB
"""The Bot API's largest photo; a larger picture goes as a document."""
MAX_FILE_BYTES = 50 * MB
"""The Bot API's largest upload (multipart/form-data)."""
FILE_TIMEOUT = 120.0
"""Seconds to write a file and wait for its answer: a timeout is retried, so a short one would
send a large file again that Telegram was still taking."""


def is_photo(file: Attachment) -> bool:
    return file.content_type in PHOTO_TYPES and file.size <= MAX_PHOTO_BYTES


def file_refusal(file: Attachment) -> FileRefusal | None:
    """Why the Bot API would not take the file; ``None``: it would."""
    return size_refusal(file.size, MAX_FILE_BYTES, "Telegram bots send files")


async def send_file(bot: Bot, chat_id: str, file: Attachment, caption: str | None) -> Message:
    send = bot.send_photo if is_photo(file) else bot.send_document
    return await send(
        chat_id,
        file.data or b"",
        caption=caption,
        filename=file.name,
        read_timeout=FILE_TIMEOUT,
        write_timeout=FILE_TIMEOUT,
    )
