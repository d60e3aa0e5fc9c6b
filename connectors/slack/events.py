"""Slack message events to :class:`InboundMessage`: pure, no I/O.

What the mapper needs from Slack's Web API (the bot's own ids, the sender's
profile) is looked up by the connector and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import Address, Attachment, InboundMessage, Link, Proof

IDENTITY_KIND = "slack"

CUSTOMER_SUBTYPES: frozenset[str | None] = frozenset(
    {None, "file_share", "thread_broadcast", "me_message"}
)
"""Message subtypes a person writes; edits, deletions, joins and bot posts are not messages."""


@dataclass(frozen=True)
class BotIdentity:
    """Who the app is, from ``auth.test``."""

    user_id: str
    bot_id: str | None
    user: str
    team_id: str
    team: str


@dataclass(frozen=True)
class SlackUser:
    """What ``users.info`` told about a sender (``email`` needs the users:read.email scope)."""

    name: str | None = None
    email: str | None = None
    zone: str | None = None
    """``tz``, the IANA zone the user set in Slack."""
    locale: str | None = None
    """``locale`` (asked with ``include_locale``), e.g. ``de-DE``."""


def external_id(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def split_external_id(value: str) -> tuple[str, str] | None:
    """``(channel, ts)`` of an inbound message's external id; ``None`` for anything else."""
    channel, sep, ts = value.partition(":")
    return (channel, ts) if sep and channel and ts else None


def is_direct(channel: str) -> bool:
    """A DM with the app: Slack's direct-message channel ids start with D."""
    return channel.startswith("D")


def customer_event(
    body: dict[str, Any], bot: BotIdentity, channels: frozenset[str]
) -> dict[str, Any] | None:
    """The event of ``body`` when it is a customer's message for the hub, else ``None``.

    Customers write in the configured channels or in a DM to the app; the
    app's own posts and every other bot's are never customer messages.
    """
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") != "message":
        return None
    if event.get("subtype") not in CUSTOMER_SUBTYPES:
        return None
    user = event.get("user")
    if not user or user == bot.user_id or event.get("bot_id") or event.get("bot_profile"):
        return None
    if not event.get("channel") or not event.get("ts"):
        return None
    if event.get("channel_type") != "im" and event["channel"] not in channels:
        return None
    return event


def sender_address(body: dict[str, Any], event: dict[str, Any]) -> Address:
    """``<team_id>:<user_id>``; a Slack Connect guest keeps their own team."""
    team = event.get("user_team") or event.get("team") or body.get("team_id") or ""
    return Address(IDENTITY_KIND, f"{team}:{event['user']}")


def thread_root(event: dict[str, Any]) -> str:
    """The ts replies go under: the thread's parent, or the message itself."""
    return str(event.get("thread_ts") or event["ts"])


def inbound(
    channel_name: str, body: dict[str, Any], event: dict[str, Any], user: SlackUser
) -> InboundMessage:
    files = event.get("files") or []
    return InboundMessage(
        channel=channel_name,
        external_id=external_id(event["channel"], event["ts"]),
        sender=sender_address(body, event),
        sender_name=user.name,
        text=str(event.get("text") or ""),
        attachments=tuple(
            Attachment(
                name=str(f.get("name") or f.get("title") or "file"),
                content_type=str(f.get("mimetype") or "application/octet-stream"),
                size=int(f.get("size") or 0),
            )
            for f in files
            if isinstance(f, dict)
        ),
        sent_at=datetime.fromtimestamp(float(event["ts"]), UTC),
        linked=(Link(Address("email", user.email.lower()), Proof.WORKSPACE),) if user.email else (),
        zone=user.zone,
        locale=user.locale,
        meta={
            "slack_channel": event["channel"],
            "ts": event["ts"],
            "thread_ts": thread_root(event),
            "channel_type": event.get("channel_type"),
            "event_id": body.get("event_id"),
        },
    )


def user_from_info(info: dict[str, Any]) -> SlackUser:
    """A ``users.info`` answer's ``user`` object to the name and email the hub keeps."""
    profile = info.get("profile") or {}
    name = (
        profile.get("display_name")
        or profile.get("real_name")
        or info.get("real_name")
        or info.get("name")
    )
    return SlackUser(
        name=name or None,
        email=text_or_none(profile.get("email")),
        zone=text_or_none(info.get("tz")),
        locale=text_or_none(info.get("locale")),
    )


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
