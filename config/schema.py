"""What admins write in the hub's YAML file, validated by pydantic.

The hub-wide settings live here; each channel kind's settings model lives with
its connector (``connectors/<kind>/settings.py``) and ``ChannelSettings`` composes
them into one discriminated union on ``kind``. Secrets are never written in
the file itself (``connectors.settings.FromEnv``).
"""

from __future__ import annotations

import re
from ipaddress import ip_network
from typing import Annotated, Literal, Union, get_args

from pydantic import Field, field_validator, model_validator
from pydantic_core import ErrorDetails

from connectors.api.settings import ApiChannel
from connectors.email.settings import EmailChannel
from connectors.settings import FromEnv, HoursSettings, ResponseTargets, Strict, Template
from connectors.slack.settings import SlackChannel
from connectors.telegram.settings import TelegramChannel
from connectors.twilio.settings import TwilioChannel
from connectors.webchat.settings import WebchatChannel
from connectors.whatsapp.settings import WhatsappChannel
from routing.autoreply import DEFAULT_AUTOREPLY
from routing.calendar import CalendarError


class DatabaseSettings(Strict):
    url: str = Field(
        "sqlite:///hub.db",
        description="sqlite:///path/file.db or postgresql://user@host:port/dbname",
    )
    takeover_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="PostgreSQL, several hub processes: how often a process checks whether "
        "it must take over the IMAP and Telegram polling from one that stopped",
    )
    writers: int = Field(
        2,
        ge=1,
        le=8,
        description="PostgreSQL: writers that commit writes in batches (group commit), "
        "concurrently, each on a connection of its own",
    )

    @field_validator("url")
    @classmethod
    def known_backend(cls, url: str) -> str:
        if not url.startswith(("sqlite:///", "postgresql://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url


class HttpSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="URL customers and agents reach the hub at; defaults to host:port"
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="largest file an agent may upload for a reply (POST .../uploads); "
        "channels may take less (docs/whatsapp.md)",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks (CIDR) of reverse proxies whose X-Forwarded-For "
        "names the client; from anyone else the header is ignored",
    )
    header_timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=300,
        description="a request head (line and headers) must arrive within this time of the "
        "connection opening or its first byte; slower connections are closed",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="a request body must arrive within this time of its head, else 408",
    )
    max_connections_per_client: int = Field(
        100,
        ge=0,
        description="open connections one TCP peer address may hold; more are closed at once "
        "(0: no cap). Behind a proxy the hub sees only the proxy's address: set 0 there",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def networks(cls, entries: list[str]) -> list[str]:
        wrong = []
        for entry in entries:
            try:
                ip_network(entry, strict=False)
            except ValueError:
                wrong.append(entry)
        if wrong:
            raise ValueError(f"not IP addresses or networks: {', '.join(wrong)}")
        return entries

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class AuthSettings(Strict):
    """Sessions and the limits on failed sign-ins (a wrong password or two-factor code).

    Two limits, both on failures only: one per client address, so a stranger
    cannot lock out a whole team behind one proxy address, and one per account,
    so guessing one account's password from many addresses stays slow. The
    account limit slows sign-in down rather than locking the account for long:
    a stranger can make its owner wait ``account_delay_seconds``, never an hour.
    """

    session_hours: float = Field(12, gt=0)
    client_failures_per_minute: int = Field(
        10,
        ge=1,
        description="failed sign-ins one client address may make in any minute "
        "(IPv6: one /64 network); further attempts from it are refused until one is a "
        "minute old",
    )
    account_failures: int = Field(
        10,
        ge=1,
        description="failed sign-ins an account may take within account_window_minutes "
        "before each further attempt must wait account_delay_seconds after the last failure",
    )
    account_window_minutes: float = Field(15, gt=0, le=1440)
    account_delay_seconds: float = Field(60, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def renamed(cls, data: object) -> object:
        if isinstance(data, dict) and "login_attempts_per_minute" in data:
            raise ValueError(
                "login_attempts_per_minute was replaced by client_failures_per_minute "
                "(which counts failed sign-ins only) and account_failures"
            )
        return data


class MetricsSettings(Strict):
    token_env: FromEnv | None = Field(
        None,
        description="environment variable with the bearer token Prometheus sends to /metrics; "
        "without it /metrics answers 404",
    )


class LogSettings(Strict):
    format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line, for log collectors"
    )
    level: Literal["debug", "info", "warning", "error"] = Field(
        "info",
        description="info and above never show message text or credentials (debug shows "
        "bodies); libraries log warnings at most, and configured secrets are masked at any level",
    )


class AbsenceSettings(Strict):
    hand_over_after_days: int | None = Field(
        None,
        ge=0,
        le=366,
        description="an agent's absence longer than this many days hands their open "
        "conversations to their backup while it lasts; null: never (new messages still go "
        "to the backup while the owner is away)",
    )


class OutboxSettings(Strict):
    max_attempts: int = Field(8, ge=1)
    base_delay_seconds: float = Field(2.0, gt=0)
    max_delay_seconds: float = Field(600.0, gt=0)
    lease_seconds: float = Field(120.0, gt=0)

    @model_validator(mode="after")
    def delays_ordered(self) -> OutboxSettings:
        if self.max_delay_seconds < self.base_delay_seconds:
            raise ValueError("max_delay_seconds must not be below base_delay_seconds")
        return self


class NotificationSettings(Strict):
    """How the hub tells agents of work while their inbox is closed (``docs/agents.md``)."""

    batch_minutes: float = Field(
        5.0, gt=0, description="at most one notification per agent in this many minutes"
    )
    send_timeout_seconds: float = Field(
        30.0, gt=0, description="how long one notification may take to send before it is retried"
    )


def located_errors(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Pydantic's errors, with each problem of a calendar as its own error inside the calendar.

    ``hours`` failing with three problems becomes ``hours.weekly.mon[0]``,
    ``hours.zone``... so admins see every problem where it is.
    """
    located: list[ErrorDetails] = []
    for error in errors:
        cause = error.get("ctx", {}).get("error")
        if not isinstance(cause, CalendarError):
            located.append(error)
            continue
        for path, reason in cause.problems:
            parts = [_list_index(part) for part in re.findall(r"[^.\[\]]+", path)]
            located.append(
                {**error, "loc": (*error["loc"], *parts), "msg": reason, "type": "calendar"}
            )
    return located


def _list_index(part: str) -> int | str:
    """A path part as a list index when it is one; "²" counts as a digit but is no index."""
    return int(part) if part.isascii() and part.isdigit() else part


CHANNEL_TYPES = (
    WebchatChannel,
    ApiChannel,
    EmailChannel,
    TelegramChannel,
    SlackChannel,
    TwilioChannel,
    WhatsappChannel,
)
CHANNEL_KINDS = frozenset(get_args(t.model_fields["kind"].annotation)[0] for t in CHANNEL_TYPES)
ChannelSettings = Annotated[Union[CHANNEL_TYPES], Field(discriminator="kind")]  # noqa: UP007


def default_channels() -> list[ChannelSettings]:
    return [WebchatChannel(kind="webchat", name="webchat")]


class HubResponseTargets(ResponseTargets):
    """The hub-wide SLA (channels may set their own targets) and its escalation."""

    due_soon_lead_minutes: int = Field(
        30,
        ge=0,
        le=10_080,
        description="business minutes before a reply is due at which its handler is told "
        "it is due soon (counted in the calendar the due time was counted in); 0: never",
    )


class Settings(Strict):
    """The one settings object of the hub."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    absences: AbsenceSettings = Field(default_factory=AbsenceSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    secret_key_env: FromEnv | None = Field(
        None,
        description="environment variable with the key that signs visitor tokens; "
        "when unset the hub generates one and keeps it in the database",
    )
    channels: list[ChannelSettings] = Field(default_factory=default_channels)
    hours: HoursSettings | None = Field(
        None, description="the hub's default contact hours; none: always open"
    )
    autoreply: Template = Field(
        DEFAULT_AUTOREPLY, description="default auto-reply to held messages"
    )
    sla: HubResponseTargets = Field(default_factory=HubResponseTargets)

    @field_validator("channels")
    @classmethod
    def unique_names(cls, channels: list[ChannelSettings]) -> list[ChannelSettings]:
        seen: set[str] = set()
        for channel in channels:
            if channel.name in seen:
                raise ValueError(f"channel name {channel.name!r} is used twice")
            seen.add(channel.name)
        return channels

    @field_validator("channels")
    @classmethod
    def code_senders_are_email_channels(
        cls, channels: list[ChannelSettings]
    ) -> list[ChannelSettings]:
        kinds = {channel.name: channel.kind for channel in channels}
        for channel in channels:
            sender = getattr(channel, "verify_email_with", None)
            if sender is not None and kinds.get(sender) != "email":
                raise ValueError(
                    f"channel {channel.name}: verify_email_with must name an email channel "
                    f"({sender!r} is {kinds.get(sender, 'not configured')})"
                )
        return channels

    def channel(self, name: str) -> ChannelSettings | None:
        return next((c for c in self.channels if c.name == name), None)
