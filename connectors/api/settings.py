"""The API channel's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.settings import ChannelBase, FromEnv, HttpUrl


class ApiChannel(ChannelBase):
    """Generic HTTP channel: a system POSTs messages in, replies go to a callback URL."""

    kind: Literal["api"]
    token_env: FromEnv = Field(description="environment variable holding the inbound bearer token")
    identity_kind: str = Field(
        "phone", description="what a sender address on this channel is (phone, email, ...)"
    )
    callback_url: HttpUrl | None = None
    callback_secret_env: FromEnv | None = Field(
        None, description="environment variable holding the HMAC key for callback signatures"
    )
    share_identities: bool = Field(
        False,
        description="this channel's token may write as senders that another API channel with "
        "share_identities brought in (and theirs as this one's); otherwise each API channel "
        "speaks only for the senders it brought in itself",
    )
    verified_email: bool = Field(
        False,
        description="the system behind this channel verified its senders' from.email: link them "
        "to that email's customer; otherwise from.email is recorded as an unverified claim",
    )
