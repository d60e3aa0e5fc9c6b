"""The Telegram channel: a bot's private chats in, agents' replies out as sendMessage.

Inbound, by webhook (``POST /telegram/<name>/webhook``, checked against the
secret token set with setWebhook) or by long polling (getUpdates, the offset
kept in the hub so a restart resumes). Each update is stored before Telegram
hears it was taken: a webhook answers 200 after ingest, polling saves the
offset after ingest. A repeated update becomes a duplicate of the same
external id.

Outbound, a reply longer than Telegram's 4096 characters leaves as several
messages in order; a failed send reports the parts already sent (kept in the
message's meta), so a retry after a 429 sends only the rest. A crash mid-send
may send a part again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from aiohttp import web
from telegram import Bot, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from connectors.base import (
    AuthFailed,
    Connector,
    Delivery,
    HubPort,
    InboundMessage,
    OutboundMessage,
    PermanentError,
)
from connectors.telegram.errors import connector_error, retry_after_seconds
from connectors.telegram.settings import TelegramChannel
from connectors.telegram.updates import IDENTITY_KIND, inbound_of, split_text

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message")
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0


def backoff(failures: int) -> float:
    """Capped exponential delay, half of it random, after ``failures`` failures in a row."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


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
        self._tasks: list[asyncio.Task[None]] = []
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

    # lifecycle

    async def start(self) -> None:
        for request in self._requests:
            await request.initialize()
        self._highest_update_id = int(await self.hub.load_state(self._key("update_id")) or 0)
        if self.settings.mode == "polling":
            self._spawn(self.hub.run_alone(f"telegram:{self.name}", self._poll), "poll")
        elif not await self._set_webhook():
            self._spawn(self._register_webhook(), "set-webhook")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for request in self._requests:
            await request.shutdown()

    def _spawn(self, work: Any, what: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=f"telegram {self.name} {what}"))

    def _key(self, what: str) -> str:
        return f"{self.name}:{what}"

    async def _set_webhook(self) -> bool:
        """One setWebhook with our secret; ``False`` when worth trying again later."""
        secret = self.settings.webhook_secret_env
        assert secret is not None  # the schema requires it in webhook mode
        url = self.hub.public_url + self.webhook_path
        try:
            await self.bot.set_webhook(
                url, secret_token=secret.reveal(), allowed_updates=list(ALLOWED_UPDATES)
            )
        except InvalidToken:
            log.error("telegram %s: the bot token was refused; webhook not set", self.name)
            return True
        except TelegramError as error:
            reason = connector_error(error, self._token).reason
            log.warning("telegram %s: setWebhook failed: %s", self.name, reason)
            return False
        log.info("telegram %s: webhook set to %s", self.name, url)
        return True

    async def _register_webhook(self) -> None:
        """Retry setWebhook with backoff until Telegram took it (the hub runs meanwhile)."""
        failures = 1
        while True:
            await asyncio.sleep(backoff(failures))
            if await self._set_webhook():
                return
            failures += 1

    def _delay_after(self, error: TelegramError, failures: int) -> float:
        if isinstance(error, RetryAfter):
            return retry_after_seconds(error)
        return backoff(failures)

    # inbound

    async def webhook(self, request: web.Request) -> web.Response:
        secret = self.settings.webhook_secret_env
        presented = request.headers.get(SECRET_HEADER, "")
        if secret is None or not hmac.compare_digest(presented.encode(), secret.reveal().encode()):
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
            return web.json_response({"ok": True, "stored": False})
        if update is None:
            await self.hub.quarantine(self.name, raw, "not a Telegram update: empty")
            return web.json_response({"ok": True, "stored": False})
        stored = await self.take(update)
        return web.json_response({"ok": True, "stored": stored})

    async def take(self, update: Update) -> bool:
        """Store the message an update carries (if any); ``True`` when one was new."""
        message = inbound_of(update, self.name)
        stored = False
        if message is not None:
            message = await self._with_file_data(message)
            result = await self.hub.ingest(message)
            stored = not result.duplicate
        if self.settings.mode == "webhook" and update.update_id > self._highest_update_id:
            self._highest_update_id = update.update_id
            await self.hub.save_state(self._key("update_id"), str(update.update_id))
        return stored

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
        """getUpdates from the stored offset; the offset moves only past stored updates."""
        await self._drop_webhook()
        offset = int(await self.hub.load_state(self._key("offset")) or 0)
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset or None,
                    timeout=self.settings.poll_seconds,
                    allowed_updates=list(ALLOWED_UPDATES),
                )
                for update in updates:
                    await self.take(update)
                    offset = update.update_id + 1
                    await self.hub.save_state(self._key("offset"), str(offset))
                failures = 0
            except InvalidToken:
                log.error("telegram %s: the bot token was refused; polling stopped", self.name)
                return
            except Exception as error:
                failures += 1
                delay = (
                    self._delay_after(error, failures)
                    if isinstance(error, TelegramError)
                    else backoff(failures)
                )
                log.warning(
                    "telegram %s: polling failed (%s: %s); again in %.1f s",
                    self.name,
                    type(error).__name__,
                    str(error).replace(self._token, "<token>"),
                    delay,
                )
                await asyncio.sleep(delay)

    async def _drop_webhook(self) -> None:
        """getUpdates is refused while a webhook is set: remove it, keeping pending updates."""
        failures = 0
        while True:
            try:
                await self.bot.delete_webhook(drop_pending_updates=False)
                return
            except TelegramError as error:
                failures += 1
                await asyncio.sleep(self._delay_after(error, failures))

    # outbound

    async def send(self, message: OutboundMessage) -> Delivery:
        """Send the parts not yet delivered; a failure carries the parts sent so far."""
        parts = split_text(message.text)
        if not parts:
            raise PermanentError("an empty message cannot be sent on Telegram")
        delivered = message.delivered
        for index in range(delivered.parts_sent, len(parts)):
            try:
                sent = await self.bot.send_message(chat_id=message.to.address, text=parts[index])
            except TelegramError as error:
                failure = connector_error(error, self._token)
                failure.partial = delivered
                raise failure from error
            delivered = Delivery(delivered.external_id or str(sent.message_id), index + 1)
        return delivered

    async def test_connection(self) -> str:
        try:
            me = await self.bot.get_me()
        except TelegramError as error:
            problem = connector_error(error, self._token)
            if isinstance(problem, AuthFailed):
                raise AuthFailed("Telegram refused the bot token") from error
            raise problem from error
        return f"bot @{me.username} ready"
