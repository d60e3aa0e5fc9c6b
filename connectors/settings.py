"""What the settings of every channel share, and the field types hub-wide settings reuse.

Secrets are never written in the settings file itself: fields ending in
``_env`` name an environment variable, checked at load time and kept as
``SecretStr``; when the variable is unset, ``<variable>_FILE`` may name a file
holding the value (Docker and Kubernetes secrets). Each connector's own settings
model (``connectors/<kind>/settings.py``) builds on ``ChannelBase``; ``config.schema``
composes them into ``Settings``.
This module imports no project code but the pure ``routing/``, so config and
connectors can both import it without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from routing.autoreply import template_problems
from routing.calendar import Calendar
from routing.calendar_data import build_calendar

CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class EnvSecret:
    """A secret named by its environment variable; the value never appears in reprs."""

    variable: str
    value: SecretStr

    def reveal(self) -> str:
        return self.value.get_secret_value()


def read_env_secret(variable: object, info: ValidationInfo) -> EnvSecret:
    if not isinstance(variable, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        raise ValueError("must be the name of an environment variable")
    environ = (info.context or {}).get("environ", {})
    value = environ.get(variable) or secret_from_file(variable, environ)
    if not value:
        raise ValueError(f"environment variable {variable} is not set")
    return EnvSecret(variable, SecretStr(value))


def secret_from_file(variable: str, environ: Mapping[str, str]) -> str | None:
    """The content of the file ``<variable>_FILE`` names, one trailing newline stripped."""
    pointer = f"{variable}_FILE"
    path = environ.get(pointer)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            content = stream.read()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ValueError(f"cannot read {path} (named by {pointer}): {reason}") from None
    except UnicodeDecodeError:
        # Not the decoder's message: it quotes a byte of the secret.
        raise ValueError(f"{path} (named by {pointer}) is not UTF-8 text") from None
    content = content.removesuffix("\n").removesuffix("\r")
    if not content:
        raise ValueError(f"{path} (named by {pointer}) is empty")
    return content


FromEnv = Annotated[
    EnvSecret,
    PlainValidator(read_env_secret),
    PlainSerializer(lambda secret: secret.variable, return_type=str),
]


class OvernightSpan(Strict):
    span: str = Field(description="HH:MM-HH:MM, e.g. 22:00-06:00")
    overnight: bool = Field(False, description="the span runs past midnight into the next day")


SpanSetting = str | OvernightSpan


class HolidaySettings(Strict):
    country: str = Field(description="ISO country code known to the holidays package, e.g. DE")
    subdivision: str | None = Field(None, description="region within the country, e.g. BY")


class HoursSettings(Strict):
    """A calendar as admins write it: weekly spans in a zone, dated exceptions, holidays."""

    zone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    weekly: dict[str, list[SpanSetting]] = Field(
        default_factory=dict,
        description='mon..sun: spans like "09:00-17:00"; a missing day is closed',
    )
    exceptions: dict[str, list[SpanSetting]] = Field(
        default_factory=dict,
        description="ISO date: that day's spans instead of the weekly ones ([] closes the day)",
    )
    holidays: HolidaySettings | None = Field(
        None, description="public holidays close the day, unless an exception names that date"
    )

    @model_validator(mode="after")
    def valid_calendar(self) -> HoursSettings:
        self.calendar()
        return self

    def calendar(self) -> Calendar:
        """The pure calendar; raises ``CalendarError`` naming every problem."""
        data = self.model_dump(exclude_none=True)
        return build_calendar(
            data["zone"], data["weekly"], data["exceptions"], data.get("holidays")
        )


class ResponseTargets(Strict):
    """Business-hours SLA: how soon a customer message must be answered."""

    first_response_minutes: int | None = Field(None, ge=1, le=525_600)
    next_response_minutes: int | None = Field(None, ge=1, le=525_600)


def valid_template(template: str | None) -> str | None:
    if template is not None and (problems := template_problems(template)):
        raise ValueError("; ".join(problems))
    return template


Template = Annotated[str | None, AfterValidator(valid_template)]


DEFAULT_SATISFACTION_QUESTION = "How did we do? One click tells us (1 to 5):"


class SatisfactionSettings(Strict):
    """The one question a customer gets after their conversation is resolved.

    Off unless a channel turns it on: an upgrade must not start writing to
    customers nobody chose to ask, in words nobody chose.
    """

    enabled: bool = Field(False, description="ask once after each resolved conversation")
    question: str = Field(
        DEFAULT_SATISFACTION_QUESTION,
        min_length=1,
        max_length=500,
        description="the question; a link to the 1-5 answer page follows it",
    )


class ChannelBase(Strict):
    name: str = Field(description="unique channel name, e.g. webchat or sms")
    enabled: bool = True
    hours: HoursSettings | None = Field(
        None, description="this channel's contact hours (customers' agreed hours come first)"
    )
    never_hold: bool = Field(False, description="deliver at once even outside the hours")
    autoreply: Template = Field(
        None, description="auto-reply to held messages; placeholders {owner} {opens} {zone}"
    )
    sla: ResponseTargets | None = None
    satisfaction: SatisfactionSettings = SatisfactionSettings()

    @field_validator("name")
    @classmethod
    def well_formed_name(cls, name: str) -> str:
        if not CHANNEL_NAME.match(name):
            raise ValueError(
                "must be 1-40 lowercase letters, digits, '-' or '_', starting with a letter"
            )
        return name


def http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return url


HttpUrl = Annotated[str, AfterValidator(http_url)]
