"""Files in Telegram replies: JPEG and PNG pictures by sendPhoto, any other file by
sendDocument (its name kept), each a message of its own; the text as the first file's
caption when it fits 1024 characters (``connectors/file_steps.py``)."""

from __future__ import annotations

from telegram import Bot, Message

from connectors.base import Attachment
from connectors.media import readable_size

MAX_CAPTION_CHARS = 1024
MB = 1024 * 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
LIMITS = {"photo": 10 * MB, "document": 50 * MB}
"""The Bot API's largest upload of each kind (multipart/form-data)."""


def file_kind(file: Attachment) -> str:
    return "photo" if file.content_type in PHOTO_TYPES else "document"


def file_refusal(file: Attachment) -> str | None:
    """Why the Bot API would not take the file, in words; ``None``: it would."""
    kind = file_kind(file)
    if file.size > LIMITS[kind]:
        return (
            f"it is {readable_size(file.size)} and Telegram bots send {kind}s up to "
            f"{readable_size(LIMITS[kind])}"
        )
    return None


async def send_file(bot: Bot, chat_id: str, file: Attachment, caption: str | None) -> Message:
    data = file.data or b""
    if file_kind(file) == "photo":
        return await bot.send_photo(chat_id, data, caption=caption, filename=file.name)
    return await bot.send_document(chat_id, data, caption=caption, filename=file.name)
