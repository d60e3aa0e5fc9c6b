"""What proved an address is a person's: the levels of trust identities carry."""

from __future__ import annotations

from enum import StrEnum


class Proof(StrEnum):
    """What showed that an address is the person's (kept as ``identities.verified_by``).

    Anything else an address comes with is a *claim*: shown to agents, never linked.
    """

    CHANNEL = "channel"
    """The platform authenticated the sender: a hub-signed widget token, Telegram, Slack, an
    API channel's token."""
    MAIL_AUTH = "mail-auth"
    """The mail passed DMARC (or DKIM/SPF aligned with its From)."""
    WORKSPACE = "workspace"
    """A Slack workspace's profile email: the workspace vouches for its members."""
    SYSTEM = "system"
    """An API channel configured to vouch for the emails it sends (``verified_email``)."""
    SIGNED = "signed"
    """The embedding site signed the visitor's identity with the channel's secret (HMAC)."""
    CODE = "code"
    """The visitor entered a one-time code sent to the address."""
    PERSON = "person"
    """An agent or admin linked it or merged the customers (audited)."""
