"""Pure mapping between Telegram's objects and the hub's messages.

Nothing here does I/O: an ``Update`` (parsed by python-telegram-bot) becomes
one :class:`InboundMessage` or ``None``; files are only listed, the connector
fetches their bytes.
"""

from __future__ import annotations

import re

from telegram import Message, Update
from telegram.constants import ChatType, MessageLimit

from connectors.base import Address, Attachment, InboundMessage
from connectors.media import safe_media_type

IDENTITY_KIND = "telegram"
MAX_MESSAGE_CHARS = int(MessageLimit.MAX_TEXT_LENGTH)
UNSUPPORTED = (
    "sticker",
    "voice",
    "audio",
    "video",
    "video_note",
    "animation",
    "location",
    "contact",
    "poll",
)


def message_id(chat_id: int, message: int) -> str:
    return f"{chat_id}:{message}"


def listed_files(message: Message) -> list[dict[str, object]]:
    """The photo (largest size) and document of a message, as metadata with their file ids."""
    files: list[dict[str, object]] = []
    if message.photo:
        photo = message.photo[-1]
        files.append(
            {
                "file_id": photo.file_id,
                "name": f"photo-{photo.file_unique_id}.jpg",
                "mime": "image/jpeg",
                "size": photo.file_size or 0,
            }
        )
    if message.document:
        document = message.document
        files.append(
            {
                "file_id": document.file_id,
                "name": document.file_name or f"document-{document.file_unique_id}",
                "mime": safe_media_type(document.mime_type or ""),
                "size": document.file_size or 0,
            }
        )
    return files


def visible_text(message: Message) -> str:
    text = message.text or message.caption or ""
    if text or message.photo or message.document:
        return text
    kind = next((k for k in UNSUPPORTED if getattr(message, k, None)), "message")
    return f"[Telegram {kind.replace('_', ' ')}: not shown in the hub]"


def inbound_of(update: Update, channel: str) -> InboundMessage | None:
    """The customer message an update carries; ``None`` for anything outside private chats."""
    message = update.message or update.edited_message
    if message is None or message.chat.type != ChatType.PRIVATE or message.from_user is None:
        return None
    user = message.from_user
    original = message_id(message.chat.id, message.message_id)
    files = listed_files(message)
    meta: dict[str, object] = {"chat_id": message.chat.id, "update_id": update.update_id}
    if user.username:
        meta["username"] = user.username
    if files:
        meta["files"] = files
    external_id, sent_at, refs = original, message.date, ()
    if update.edited_message is not None:
        edited_at = message.edit_date or message.date
        external_id = f"edit:{original}:{int(edited_at.timestamp())}"
        sent_at, refs = edited_at, (original,)
        meta["edit_of"] = original
    elif message.reply_to_message is not None:
        refs = (message_id(message.chat.id, message.reply_to_message.message_id),)
    return InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=Address(IDENTITY_KIND, str(user.id)),
        sender_name=user.full_name,
        text=visible_text(message),
        attachments=tuple(
            Attachment(str(f["name"]), str(f["mime"]), int(f["size"]))  # type: ignore[call-overload]
            for f in files
        ),
        sent_at=sent_at,
        thread_refs=refs,
        automated=user.is_bot,
        locale=user.language_code,
        meta=meta,
    )


START_CODE = re.compile(r"/start ([A-Za-z0-9_-]{8,64})")
"""What a deep link ``t.me/<bot>?start=<code>`` makes the app send (Telegram's payload rule)."""


def start_code(message: InboundMessage) -> str | None:
    """The code of a ``/start <code>`` message (an agent linking their chat), if it is one."""
    if not message.text.startswith("/start "):
        return None
    found = START_CODE.fullmatch(message.text.strip())
    return found.group(1) if found else None
