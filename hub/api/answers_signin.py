"""What the sign-in and security endpoints answer (see ``hub.api.answers``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hub.api.answers import AgentSignedIn, Answer


class SignedIn(Answer):
    agent: AgentSignedIn
    csrf_token: str = Field(description="send it as X-CSRF-Token with unsafe requests")


class TwoFactorChallenge(Answer):
    two_factor: Literal["required"]
    challenge: str = Field(description="pass it with a code to the two-factor step")


class BearerToken(Answer):
    token: str = Field(description="send as Authorization: Bearer <token>")
    agent_id: int


class Enrolment(Answer):
    secret: str = Field(description="the new TOTP secret, base32")
    otpauth_uri: str
    qr_svg: str = Field(description="the URI as a QR code, an SVG data URI")
    enrolment: str = Field(description="pass it back with a code to confirm")


class RecoveryCodes(Answer):
    recovery_codes: list[str] = Field(description="shown this once")


class TeamSecurity(Answer):
    require_two_factor: bool
    demo_passwords: list[str] = Field(description="agents still using a published demo password")
