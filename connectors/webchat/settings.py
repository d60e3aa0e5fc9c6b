"""The web chat channel's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.settings import ChannelBase, FromEnv


class WebchatChannel(ChannelBase):
    kind: Literal["webchat"]
    title: str = "Chat with us"
    team_name: str = Field(
        "Our team", description="who the widget says will answer a visitor nobody owns yet"
    )
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description="page origins allowed to open the widget's WebSocket (and the hub's own)",
    )
    max_message_chars: int = Field(5000, ge=1)
    identity_secret_env: FromEnv | None = Field(
        None,
        description="environment variable with the secret the embedding site signs its "
        'signed-in users\' identities with (HMAC-SHA256 of "<user id>\\n<email>"); a valid '
        "signature links the visitor to that customer",
    )
    verify_email_with: str | None = Field(
        None,
        description="email channel that sends visitors one-time codes to prove a typed email "
        "is theirs; default: the first email channel, if any",
    )
