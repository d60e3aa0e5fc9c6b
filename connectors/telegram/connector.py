"""The Telegram channel: a bot's private chats in, agents' replies out as sendMessage.

Inbound, by webhook (``POST /telegram/<name>/webhook``, checked against the
secret token set with setWebhook) or by long polling (getUpdates, the offset
kept in the hub so a restart resumes). Each update is stored before Telegram
hears it was taken: a webhook answers 200 after ingest, polling saves the
offset in the same transaction as the message. A repeated update becomes a
duplicate of the same external id. setWebhook and polling run in the one retry
loop (``connectors.retry``): an unreachable Bot API is tried again with a
WARNING, a refused token halts the channel with one ERROR.

Outbound, a reply longer than Telegram's 4096 characters leaves as several
messages in order; a failed send reports the parts already sent (kept in the
message's meta), so a retry after a 429 sends only the rest. A crash mid-send
may send a part again (at least once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from functools import partial

from aiohttp import web
from pydantic import BaseModel, Field
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from connectors.base import (
    Attachment,
    Connector,
    Cursor,
    Delivery,
    HubPort,
    InboundMessage,
    OutboundMessage,
    PermanentError,
)
from connectors.file_steps import steps_of
from connectors.media import FileRefusal
from connectors.retry import Session, keep_trying
from connectors.route_docs import RouteDoc
from connectors.secret_check import same_secret
from connectors.telegram.errors import classify, connector_error
from connectors.telegram.files_out import MAX_CAPTION_CHARS, file_refusal, send_file
from connectors.telegram.settings import TelegramChannel
from connectors.telegram.updates import IDENTITY_KIND, MAX_MESSAGE_CHARS, inbound_of, start_code

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookAnswer(BaseModel):
    ok: bool = True
    stored: bool = Field(description="false: a repeat, or not an update (quarantined)")


ALLOWED_UPDATES = ("message", "edited_message")
LINKED = "This chat now receives your notifications from the support hub."


def file_base_url(base_url: str) -> str:
    """Bot API servers serve files at ``.../file/bot<token>`` next to ``.../bot<token>``."""
    return base_url[: -len("bot")] + "file/bot" if base_url.endswith("bot") else base_url


class TelegramConnector(Connector):
    kind = "telegram"

    def __init__(self, settings: TelegramChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._token = settings.token_env.reveal()
        self._requests = (
            HTTPXRequest(connection_pool_size=8),
            HTTPXRequest(read_timeout=settings.poll_seconds + 10.0),
        )
        self.bot = Bot(
            self._token,
            base_url=settings.base_url,
            base_file_url=file_base_url(settings.base_url),
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        self._highest_update_id = 0

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND

    @property
    def webhook_path(self) -> str:
        return f"/telegram/{self.name}/webhook"

    def routes(self) -> Iterable[web.RouteDef]:
        if self.settings.mode != "webhook":
            return []
        return [web.post(self.webhook_path, self.webhook)]

    def route_docs(self) -> Iterable[RouteDoc]:
        if self.settings.mode != "webhook":
            return
        secret = {"type": "apiKey", "in": "header", "name": SECRET_HEADER}
        yield RouteDoc(
            "POST",
            self.webhook_path,
            f"channel_{self.name}_webhook",
            f"Telegram's updates for bot channel {self.name} (the hub sets this webhook itself)",
            "channels",
            description="The body is a Telegram Update. One that is not is quarantined and "
            "still answered 200, so Telegram does not send it again.",
            response=WebhookAnswer,
            errors=(403, 404),
            security={f"channel_{self.name}_secret": secret},
        )

    # lifecycle

    async def start(self) -> None:
        for request in self._requests:
            await request.initialize()
        self._highest_update_id = int(await self.hub.load_state(self._key("update_id")) or 0)

    async def listen(self) -> None:
        """Polling: getUpdates in one hub process at a time. Webhook mode: updates arrive in
        ``routes()``; here setWebhook is retried until Telegram took it."""
        if self.settings.mode == "polling":
            await self.hub.run_alone(f"telegram:{self.name}", self._poll)
        else:
            await self._keep_trying("setWebhook", self._set_webhook)

    async def stop(self) -> None:
        for request in self._requests:
            await request.shutdown()

    def _key(self, what: str) -> str:
        return f"{self.name}:{what}"

    async def _keep_trying(self, what: str, attempt: Callable[[Session], Awaitable[None]]) -> None:
        """Run a session with the Bot API in the one retry loop; a refused token halts it."""
        await keep_trying(
            f"telegram {self.name}: {what}",
            attempt,
            log=log,
            classify=partial(classify, token=self._token),
            on_stop=self.halt,
        )

    async def _set_webhook(self, _session: Session) -> None:
        """setWebhook with our secret (the hub serves meanwhile, so Telegram may be down)."""
        secret = self.settings.webhook_secret_env
        assert secret is not None  # the schema requires it in webhook mode
        url = self.hub.public_url + self.webhook_path
        await self.bot.set_webhook(
            url, secret_token=secret.reveal(), allowed_updates=list(ALLOWED_UPDATES)
        )
        log.info("telegram %s: webhook set to %s", self.name, url)

    # inbound

    async def webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.webhook_secret_env
        presented = request.headers.get(SECRET_HEADER)
        if not same_secret(presented, secret.reveal() if secret else None):
            return web.json_response(
                {"error": f"missing or wrong {SECRET_HEADER} for channel {self.name}"},
                status=403,
            )
        raw = await request.read()
        try:
            data = json.loads(raw)
            update = Update.de_json(data, self.bot)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            await self.hub.quarantine(self.name, raw, f"not a Telegram update: {error}")
            return web.json_response(WebhookAnswer(stored=False).model_dump())
        if update is None:
            await self.hub.quarantine(self.name, raw, "not a Telegram update: empty")
            return web.json_response(WebhookAnswer(stored=False).model_dump())
        stored = await self.take(update, self._webhook_cursor(update))
        self._highest_update_id = max(self._highest_update_id, update.update_id)
        return web.json_response(WebhookAnswer(stored=stored).model_dump())

    def _webhook_cursor(self, update: Update) -> Cursor | None:
        """The highest ``update_id`` seen, kept with its message (updates may come unordered)."""
        if update.update_id <= self._highest_update_id:
            return None
        return Cursor(self._key("update_id"), str(update.update_id))

    async def take(self, update: Update, cursor: Cursor | None = None) -> bool:
        """Store the message an update carries (if any) with ``cursor``; ``True`` when new."""
        message = inbound_of(update, self.name)
        if message is None:
            if cursor is not None:
                await self.hub.save_state(cursor.key, cursor.value)
            return False
        code = start_code(message)
        if code is not None and await self._link_chat(message, code, cursor):
            return False
        message = await self._with_file_data(message)
        return not (await self.hub.ingest(message, cursor=cursor)).duplicate

    async def _link_chat(self, message: InboundMessage, code: str, cursor: Cursor | None) -> bool:
        """An agent's link code: their chat gets their notifications, and is told so.

        A code the hub does not know is a customer's ``/start``: ingested as usual.
        """
        chat_id = str(message.meta["chat_id"])
        if not await self.hub.link_chat(self.name, code, chat_id, cursor):
            return False
        try:
            await self.bot.send_message(chat_id=chat_id, text=LINKED)
        except TelegramError as error:
            reason = connector_error(error, self._token).reason
            log.warning("telegram %s: link confirmation not sent: %s", self.name, reason)
        return True

    async def start_link(self, code: str) -> str | None:
        """``https://t.me/<bot>?start=<code>``: opens the chat with the bot and sends the code."""
        try:
            me = await self.bot.get_me()
        except TelegramError as error:
            reason = connector_error(error, self._token).reason
            log.warning("telegram %s: no bot name for a link: %s", self.name, reason)
            return None
        return f"https://t.me/{me.username}?start={code}"

    async def _with_file_data(self, message: InboundMessage) -> InboundMessage:
        """Fetch photos and documents up to ``max_file_bytes``; others stay listed only."""
        files = message.meta.get("files", [])
        if not files:
            return message
        attachments = []
        for listed, attachment in zip(files, message.attachments, strict=True):
            data = None
            if 0 < attachment.size <= self.settings.max_file_bytes:
                try:
                    found = await self.bot.get_file(listed["file_id"])
                    data = bytes(await found.download_as_bytearray())
                except TelegramError as error:
                    log.warning(
                        "telegram %s: file %s not fetched: %s",
                        self.name,
                        listed["name"],
                        connector_error(error, self._token).reason,
                    )
            attachments.append(replace(attachment, data=data))
        return replace(message, attachments=tuple(attachments))

    async def _poll(self) -> None:
        await self._keep_trying("polling", self._poll_updates)

    async def _poll_updates(self, session: Session) -> None:
        """deleteWebhook (getUpdates is refused while one is set, keeping pending updates),
        then getUpdates from the stored offset, which moves with each stored update."""
        await self.bot.delete_webhook(drop_pending_updates=False)
        offset = int(await self.hub.load_state(self._key("offset")) or 0)
        while True:
            updates = await self.bot.get_updates(
                offset=offset or None,
                timeout=self.settings.poll_seconds,
                allowed_updates=list(ALLOWED_UPDATES),
            )
            session.connected()
            for update in updates:
                offset = update.update_id + 1
                await self.take(update, Cursor(self._key("offset"), str(offset)))

    # outbound

    async def send(self, message: OutboundMessage) -> Delivery:
        """Send the parts (text, files) not yet delivered; a failure carries the parts sent
        so far."""
        steps = steps_of(message.text, message.attachments, MAX_MESSAGE_CHARS, MAX_CAPTION_CHARS)
        if not steps:
            raise PermanentError("an empty message cannot be sent on Telegram")
        delivered = message.delivered
        for index in range(delivered.parts_sent, len(steps)):
            step, chat_id = steps[index], message.to.address
            try:
                if step.file is not None:
                    file = message.attachments[step.file]
                    sent = await send_file(self.bot, chat_id, file, step.caption)
                else:
                    sent = await self.bot.send_message(
                        chat_id=chat_id,
                        text=step.text or "",
                        reply_markup=buttons(message) if index == len(steps) - 1 else None,
                    )
            except TelegramError as error:
                failure = connector_error(error, self._token)
                failure.partial = delivered
                raise failure from error
            delivered = Delivery(delivered.external_id or str(sent.message_id), index + 1)
        return delivered

    def file_refusal(self, attachment: Attachment) -> FileRefusal | None:
        return file_refusal(attachment)

    async def test_connection(self) -> str:
        try:
            me = await self.bot.get_me()
        except TelegramError as error:
            raise connector_error(error, self._token) from error
        return f"bot @{me.username} ready"


def buttons(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    """The message's choices as one row of link buttons under its last part.

    Only https links: Telegram refuses buttons to local addresses (a hub on
    localhost), and the text carries the link anyway.
    """
    links = [(label, url) for label, url in message.choices if url.startswith("https://")]
    if not links:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url) for label, url in links]])
