"""The Twilio SMS channel's settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.phone import e164
from connectors.settings import ChannelBase, FromEnv, HttpUrl

ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
API_KEY_SID = re.compile(r"SK[0-9a-f]{32}")


class TwilioChannel(ChannelBase):
    """SMS (and MMS) through a Twilio number: Twilio POSTs what customers text to the hub,
    replies leave through the Messages API."""

    kind: Literal["twilio"]
    account_sid: str = Field(description="the Twilio account's SID, AC followed by 32 hex digits")
    auth_token_env: FromEnv = Field(
        description="environment variable with the account's Auth Token: Twilio signs its "
        "webhooks with it (X-Twilio-Signature), and it authorizes the API calls unless an "
        "API key is set"
    )
    api_key_sid: str | None = Field(
        None,
        description="an API key (SK...) the API calls authorize with instead of the Auth "
        "Token: Twilio's advice, as a key can be revoked alone (Console > API keys)",
    )
    api_key_secret_env: FromEnv | None = Field(
        None, description="environment variable with that API key's secret"
    )
    from_number: str | None = Field(
        None, description="the Twilio number replies come from, in E.164 (+14155550100)"
    )
    messaging_service_sid: str | None = Field(
        None,
        description="a Messaging Service (MG...): it picks the number when from_number is "
        "unset, and applies its features (opt-out handling, link shortening) either way",
    )
    base_url: HttpUrl = Field("https://api.twilio.com", description="Twilio's REST API server")
    max_media_bytes: int = Field(
        5 * 1024 * 1024,
        ge=0,
        le=20 * 1024 * 1024,
        description="MMS pictures and files up to this size are stored; larger ones only listed",
    )

    @field_validator("account_sid")
    @classmethod
    def account_sid_shape(cls, sid: str) -> str:
        if not ACCOUNT_SID.fullmatch(sid):
            raise ValueError("must be AC followed by 32 lowercase hex digits (Twilio Console)")
        return sid

    @field_validator("from_number")
    @classmethod
    def from_number_is_e164(cls, number: str | None) -> str | None:
        if number is not None and e164(number) is None:
            raise ValueError("must be a phone number with its country code, e.g. +14155550100")
        return e164(number) if number is not None else None

    @field_validator("messaging_service_sid")
    @classmethod
    def service_sid_shape(cls, sid: str | None) -> str | None:
        if sid is not None and not MESSAGING_SERVICE_SID.fullmatch(sid):
            raise ValueError("must be MG followed by 32 lowercase hex digits")
        return sid

    @field_validator("api_key_sid")
    @classmethod
    def api_key_sid_shape(cls, sid: str | None) -> str | None:
        if sid is not None and not API_KEY_SID.fullmatch(sid):
            raise ValueError("must be SK followed by 32 lowercase hex digits (Console > API keys)")
        return sid

    @model_validator(mode="after")
    def an_api_key_with_its_secret(self) -> TwilioChannel:
        if (self.api_key_sid is None) != (self.api_key_secret_env is None):
            raise ValueError("set api_key_sid and api_key_secret_env together, or neither")
        return self

    @model_validator(mode="after")
    def a_sender(self) -> TwilioChannel:
        if self.from_number is None and self.messaging_service_sid is None:
            raise ValueError("set from_number or messaging_service_sid (replies need a sender)")
        return self
