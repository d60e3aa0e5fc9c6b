"""The Telegram channel's settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.settings import ChannelBase, EnvSecret, FromEnv, HttpUrl

BOT_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{30,100}")
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramChannel(ChannelBase):
    """A Telegram bot: private chats in by webhook or long polling, replies by sendMessage."""

    kind: Literal["telegram"]
    token_env: FromEnv = Field(description="environment variable holding the BotFather token")
    mode: Literal["webhook", "polling"] = Field(
        "webhook", description="webhook: Telegram POSTs to the hub's public URL; or getUpdates"
    )
    webhook_secret_env: FromEnv | None = Field(
        None, description="environment variable with the webhook secret token (webhook mode)"
    )
    base_url: HttpUrl = Field(
        "https://api.telegram.org/bot", description="Bot API server; the token is appended"
    )
    poll_seconds: int = Field(30, ge=1, le=50, description="long-poll timeout of getUpdates")
    max_file_bytes: int = Field(
        10 * 1024 * 1024,
        ge=0,
        le=20 * 1024 * 1024,
        description="photos and documents up to this size are stored; larger ones only listed",
    )

    @field_validator("token_env")
    @classmethod
    def bot_token_shape(cls, token: EnvSecret) -> EnvSecret:
        if not BOT_TOKEN.fullmatch(token.reveal()):
            raise ValueError(
                f"environment variable {token.variable} does not hold a bot token "
                "of the form <digits>:<secret> as BotFather gives it"
            )
        return token

    @field_validator("webhook_secret_env")
    @classmethod
    def webhook_secret_shape(cls, secret: EnvSecret | None) -> EnvSecret | None:
        if secret is not None and not WEBHOOK_SECRET.fullmatch(secret.reveal()):
            raise ValueError(
                f"environment variable {secret.variable} must hold 1-256 characters "
                "A-Z, a-z, 0-9, _ or - (Telegram's rule for webhook secrets)"
            )
        return secret

    @model_validator(mode="after")
    def webhook_needs_a_secret(self) -> TelegramChannel:
        if self.mode == "webhook" and self.webhook_secret_env is None:
            raise ValueError(
                "mode: webhook needs webhook_secret_env (the environment variable with the "
                "secret Telegram sends in X-Telegram-Bot-Api-Secret-Token)"
            )
        return self
