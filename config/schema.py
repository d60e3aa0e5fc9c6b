"""What admins write in the hub's YAML file, validated by pydantic.

Secrets are never written in the file itself: fields ending in ``_env`` name an
environment variable, checked at load time and kept as ``SecretStr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Annotated, Literal, Union, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from routing.calendar import Calendar, CalendarError
from routing.calendar_data import build_calendar
from routing.contact import DEFAULT_AUTOREPLY, template_problems

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
    value = environ.get(variable)
    if not value:
        raise ValueError(f"environment variable {variable} is not set")
    return EnvSecret(variable, SecretStr(value))


FromEnv = Annotated[
    EnvSecret,
    PlainValidator(read_env_secret),
    PlainSerializer(lambda secret: secret.variable, return_type=str),
]


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
            parts = [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]
            located.append(
                {**error, "loc": (*error["loc"], *parts), "msg": reason, "type": "calendar"}
            )
    return located


class ResponseTargets(Strict):
    """Business-hours SLA: how soon a customer message must be answered."""

    first_response_minutes: int | None = Field(None, ge=1, le=525_600)
    next_response_minutes: int | None = Field(None, ge=1, le=525_600)


def valid_template(template: str | None) -> str | None:
    if template is not None and (problems := template_problems(template)):
        raise ValueError("; ".join(problems))
    return template


Template = Annotated[str | None, AfterValidator(valid_template)]


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

    @field_validator("name")
    @classmethod
    def well_formed_name(cls, name: str) -> str:
        if not CHANNEL_NAME.match(name):
            raise ValueError(
                "must be 1-40 lowercase letters, digits, '-' or '_', starting with a letter"
            )
        return name


class WebchatChannel(ChannelBase):
    kind: Literal["webchat"]
    title: str = "Chat with us"
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


class ApiChannel(ChannelBase):
    """Generic HTTP channel: a system POSTs messages in, replies go to a callback URL."""

    kind: Literal["api"]
    token_env: FromEnv = Field(description="environment variable holding the inbound bearer token")
    identity_kind: str = Field(
        "phone", description="what a sender address on this channel is (phone, email, ...)"
    )
    callback_url: str | None = None
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

    @field_validator("callback_url")
    @classmethod
    def http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


MailAddress = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s+]+@[^@\s]+$"
    ),
]


class ImapMailbox(Strict):
    """Where the hub fetches customer mail from (IMAP, IDLE when the server offers it)."""

    host: str
    port: int = Field(993, ge=1, le=65535)
    ssl: bool = True
    username: str
    password_env: FromEnv
    mailbox: str = "INBOX"
    poll_seconds: float = Field(60.0, gt=0)
    after_import: Literal["keep", "seen", "move", "delete"] = "seen"
    move_to: str | None = Field(None, description="folder for after_import: move")

    @model_validator(mode="after")
    def move_needs_a_folder(self) -> ImapMailbox:
        if self.after_import == "move" and not self.move_to:
            raise ValueError("after_import: move needs move_to (the folder to move mail to)")
        return self


class SmtpListener(Strict):
    """The hub's own SMTP server, for a relay or MX pointed at the hub."""

    host: str = "127.0.0.1"
    port: int = Field(2525, ge=0, le=65535)
    max_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_recipients: int = Field(
        100,
        ge=1,
        le=10_000,
        description="distinct recipients taken per message; RCPT beyond them gets 452, and "
        "the sender delivers the rest in another transaction (RFC 5321 asks for at least 100)",
    )


class SmtpRelay(Strict):
    """The server replies are sent through."""

    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: FromEnv | None = None
    timeout_seconds: float = Field(30.0, gt=0)


AUTHSERV_ID = re.compile(r"[^\s;()\"]{1,255}")


class MailAuthentication(Strict):
    """How the hub tells whether a mail's From address is authentic (DMARC, DKIM, SPF).

    Mail that fails is stored and flagged, for a customer of its own; mail that passes
    proves its address; mail nothing checked reaches its address's customer unproven.
    """

    authserv_id: str | None = Field(
        None,
        description="trust the Authentication-Results headers with this authserv-id only: the "
        "ones your own mail server adds (the MTA in front of the IMAP mailbox, or a relay in "
        "front of smtp_in); all others are ignored, as anyone can write that header. Mail "
        "without one did not come through that server and counts as not authenticated",
    )
    check: bool | None = Field(
        None,
        description="check DKIM, SPF and DMARC (DNS lookups) of mail that the hub's own SMTP "
        "listener receives; default: on when smtp_in is set and authserv_id is not (the hub "
        "is then the receiving mail server). Off behind a relay: SPF would see the relay",
    )
    timeout_seconds: float = Field(
        15.0,
        gt=0,
        le=120,
        description="longest the own checks of one mail may take; slower counts as unknown",
    )

    @field_validator("authserv_id")
    @classmethod
    def authserv_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not AUTHSERV_ID.fullmatch(value):
            raise ValueError("must be one token, like the mail server's host name")
        return value


class EmailChannel(ChannelBase):
    """Mail in by IMAP and/or SMTP, replies out by SMTP, threaded."""

    kind: Literal["email"]
    address: MailAddress = Field(description="the support mailbox: From of replies, accepted RCPT")
    aliases: list[MailAddress] = Field(
        default_factory=list, description="other addresses the SMTP listener accepts"
    )
    from_name: str | None = None
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=0)
    max_mime_parts: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="mail with more MIME parts is quarantined unparsed (parsing costs about "
        "1 s of CPU per thousand parts)",
    )
    max_mime_depth: int = Field(
        20, ge=1, le=100, description="mail with parts nested deeper is quarantined"
    )
    imap: ImapMailbox | None = None
    smtp_in: SmtpListener | None = None
    smtp_out: SmtpRelay
    authentication: MailAuthentication = Field(
        default_factory=MailAuthentication,
        description="how the From of incoming mail is authenticated before it proves anything",
    )

    @property
    def checks_received_mail(self) -> bool:
        """Whether the hub checks DKIM, SPF and DMARC of mail its SMTP listener receives."""
        check = self.authentication.check
        if check is None:
            return self.smtp_in is not None and self.authentication.authserv_id is None
        return check

    @model_validator(mode="after")
    def checks_need_a_listener(self) -> EmailChannel:
        if self.authentication.check and self.smtp_in is None:
            raise ValueError(
                "authentication.check needs smtp_in: the hub checks only mail it receives "
                "itself (SPF needs the sending server's address); for IMAP set "
                "authentication.authserv_id"
            )
        return self


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
    base_url: str = Field(
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

    @field_validator("base_url")
    @classmethod
    def http_base_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def webhook_needs_a_secret(self) -> TelegramChannel:
        if self.mode == "webhook" and self.webhook_secret_env is None:
            raise ValueError(
                "mode: webhook needs webhook_secret_env (the environment variable with the "
                "secret Telegram sends in X-Telegram-Bot-Api-Secret-Token)"
            )
        return self


SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,30}")


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
    base_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
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
    def api_base_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url if url.endswith("/") else url + "/"

    @model_validator(mode="after")
    def socket_needs_an_app_token(self) -> SlackChannel:
        if self.mode == "socket" and self.app_token_env is None:
            raise ValueError("mode: socket needs app_token_env (the xapp- app-level token)")
        return self


CHANNEL_TYPES = (WebchatChannel, ApiChannel, EmailChannel, TelegramChannel, SlackChannel)
CHANNEL_KINDS = frozenset(get_args(t.model_fields["kind"].annotation)[0] for t in CHANNEL_TYPES)
ChannelSettings = Annotated[Union[CHANNEL_TYPES], Field(discriminator="kind")]  # noqa: UP007


def default_channels() -> list[ChannelSettings]:
    return [WebchatChannel(kind="webchat", name="webchat")]


class Settings(Strict):
    """The one settings object of the hub."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
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
    sla: ResponseTargets | None = None

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
