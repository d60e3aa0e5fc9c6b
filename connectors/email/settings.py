"""The email channel's settings: mailbox, IMAP, SMTP listener and relay, mail authentication."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from connectors.settings import ChannelBase, FromEnv, Strict

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
