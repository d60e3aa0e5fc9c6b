"""The WhatsApp Cloud API channel's settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from connectors.settings import ChannelBase, FromEnv, HttpUrl, Strict

PHONE_NUMBER_ID = re.compile(r"[0-9]{5,20}")
API_VERSION = re.compile(r"v[0-9]+\.[0-9]+")


class ReengagementTemplate(Strict):
    """An approved message template sent instead of a reply once the 24-hour window closed."""

    name: str = Field(
        min_length=1, max_length=512, description="the template's name in WhatsApp Manager"
    )
    language: str = Field(
        "en_US", min_length=2, max_length=15, description="its language code, e.g. en_US or de"
    )
    body_parameters: list[Literal["customer_name", "agent_name"]] = Field(
        [],
        max_length=10,
        description="what fills the template body's variables {{1}}, {{2}}... in order: the "
        "customer's name, the replying agent's name; empty for a template without variables",
    )
    unknown_name: str = Field(
        "there",
        min_length=1,
        max_length=60,
        description="a parameter's text when the hub does not know that name (Meta refuses "
        "an empty parameter)",
    )


class WhatsappChannel(ChannelBase):
    """A WhatsApp Business number on Meta's Cloud API: Meta POSTs what customers write to
    the hub's webhook, replies leave through the Graph API's messages endpoint."""

    kind: Literal["whatsapp"]
    phone_number_id: str = Field(
        description="the business number's ID (WhatsApp Manager or the app's API Setup page), "
        "not the number itself"
    )
    access_token_env: FromEnv = Field(
        description="environment variable with a system user's access token "
        "(whatsapp_business_messaging permission): it authorizes the API calls"
    )
    app_secret_env: FromEnv = Field(
        description="environment variable with the Meta app's App Secret: Meta signs each "
        "webhook POST with it (X-Hub-Signature-256)"
    )
    verify_token_env: FromEnv = Field(
        description="environment variable with the verify token typed into the app's webhook "
        "settings: Meta presents it once, when the webhook URL is set"
    )
    reengagement_template: ReengagementTemplate | None = Field(
        None,
        description="sent instead of a reply once the customer's 24-hour window closed; "
        "without one, such a reply fails with that reason",
    )
    max_media_bytes: int = Field(
        5 * 1024 * 1024,
        ge=0,
        le=100 * 1024 * 1024,
        description="pictures, documents, audio and video up to this size are stored; larger "
        "ones only listed",
    )
    base_url: HttpUrl = Field("https://graph.facebook.com", description="the Graph API server")
    api_version: str = Field("v21.0", description="the Graph API version the calls name")

    @field_validator("phone_number_id")
    @classmethod
    def phone_number_id_shape(cls, number_id: str) -> str:
        if not PHONE_NUMBER_ID.fullmatch(number_id):
            raise ValueError("must be the phone number ID (digits), not the phone number")
        return number_id

    @field_validator("api_version")
    @classmethod
    def api_version_shape(cls, version: str) -> str:
        if not API_VERSION.fullmatch(version):
            raise ValueError("must be a Graph API version such as v21.0")
        return version
