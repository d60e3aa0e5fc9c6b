"""The Slack channel's settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.settings import ChannelBase, EnvSecret, FromEnv, HttpUrl

SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,30}")

EVENTS = {
    "message.im": "direct messages to the app",
    "message.channels": "messages in the public channels listed in channels",
    "message.groups": "messages in the private channels listed in channels",
}
"""The bot events the Slack app must subscribe to (the connector listens to ``message``)."""

BOT_SCOPES = {
    "im:history": "message.im events",
    "channels:history": "message.channels events",
    "groups:history": "message.groups events",
    "chat:write": "replies (chat.postMessage)",
    "im:write": "a reply to someone without an open DM (conversations.open)",
    "users:read": "senders' names (users.info)",
    "users:read.email": "senders' email addresses (users.info)",
}
"""The bot token's scopes: the events above need their history scopes, and the calls theirs."""

APP_TOKEN_SCOPES = {"connections:write": "Socket Mode (apps.connections.open)"}

APP_FEATURES = {
    "Interactivity": "clicks on the hub's link buttons are acknowledged (else Slack warns "
    "the user); its Request URL is the events one, and in Socket Mode clicks come over the socket"
}
"""What else to turn on in the Slack app's settings."""


class SlackChannel(ChannelBase):
    """A Slack app: messages in configured channels and DMs to the app, replies in their thread."""

    kind: Literal["slack"]
    bot_token_env: FromEnv = Field(description="environment variable holding the xoxb- bot token")
    signing_secret_env: FromEnv = Field(
        description="environment variable holding the app's signing secret (hex)"
    )
    channels: list[str] = Field(
        default_factory=list,
        description="Slack channel ids whose messages are customer messages "
        "(DMs to the app always are)",
    )
    base_url: HttpUrl = Field("https://slack.com/api/", description="Slack Web API base URL")
    mode: Literal["events", "socket"] = Field(
        "events", description="events: Slack POSTs to /slack/<name>/events; socket: Socket Mode"
    )
    app_token_env: FromEnv | None = Field(
        None, description="environment variable holding the xapp- app token (socket mode)"
    )

    @field_validator("bot_token_env")
    @classmethod
    def bot_token_shape(cls, token: EnvSecret) -> EnvSecret:
        if not token.reveal().startswith("xoxb-"):
            raise ValueError(
                f"environment variable {token.variable} must hold a bot token starting with xoxb-"
            )
        return token

    @field_validator("signing_secret_env")
    @classmethod
    def signing_secret_shape(cls, secret: EnvSecret) -> EnvSecret:
        if not re.fullmatch(r"[0-9a-fA-F]{16,128}", secret.reveal()):
            raise ValueError(
                f"environment variable {secret.variable} must hold the app's signing secret: "
                "hexadecimal digits, as shown under Basic Information > App Credentials"
            )
        return secret

    @field_validator("app_token_env")
    @classmethod
    def app_token_shape(cls, token: EnvSecret | None) -> EnvSecret | None:
        if token is not None and not token.reveal().startswith("xapp-"):
            raise ValueError(
                f"environment variable {token.variable} must hold an app token starting with xapp-"
            )
        return token

    @field_validator("channels")
    @classmethod
    def channel_ids(cls, channels: list[str]) -> list[str]:
        wrong = [c for c in channels if not SLACK_CHANNEL_ID.fullmatch(c)]
        if wrong:
            raise ValueError(f"not Slack channel ids (like C0123ABCD): {', '.join(wrong)}")
        return channels

    @field_validator("base_url")
    @classmethod
    def ends_with_slash(cls, url: str) -> str:
        return url if url.endswith("/") else url + "/"

    @model_validator(mode="after")
    def socket_needs_an_app_token(self) -> SlackChannel:
        if self.mode == "socket" and self.app_token_env is None:
            raise ValueError("mode: socket needs app_token_env (the xapp- app-level token)")
        return self
