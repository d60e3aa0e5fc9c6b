"""Request bodies and queries of the HTTP API; extra fields are refused, not ignored."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from config.schema import HoursSettings, Template
from hub.errors import Unprocessable

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=1000)]
Id = Annotated[int, Field(ge=1, le=2**53)]
Role = Literal["agent", "admin"]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Input):
    email: Annotated[str, StringConstraints(max_length=320)]
    password: Annotated[str, StringConstraints(max_length=1000)]


Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class CodeIn(Input):
    challenge: Token = Field(description="what the password step answered")
    code: Code = Field(description="the current code of the authenticator app, or a recovery code")


class EnrolmentIn(Input):
    enrolment: Token = Field(description="what the setup step answered")
    code: Code = Field(description="the code the authenticator app shows for the new secret")


class TwoFactorOffIn(Input):
    code: Code = Field(description="a current code or a recovery code, to show it is you")


class SecurityPatch(Input):
    require_two_factor: bool


class ConversationsQuery(Input):
    state: Literal["open", "resolved", "waiting", "due_soon", "overdue"] | None = Field(
        None,
        description="open, resolved, waiting (open with nobody available to handle it), "
        "due_soon (open, its handler told the reply is due soon, not yet overdue) "
        "or overdue (open, reply due at or before now by the hub's clock)",
    )
    scope: Literal["mine", "all"] = Field("mine", description="all: every agent's (admins only)")
    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        None, description="search: customer name, one of their addresses, or message text"
    )
    limit: int = Field(100, ge=1, le=500)
    tag: Id | None = Field(None, description="only conversations carrying this tag (its id)")


class ReplyIn(Input):
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)] = Field(
        description="what the agent wrote; may be empty when files go"
    )
    attachment_ids: list[Id] = Field(
        default_factory=list,
        max_length=10,
        description="files uploaded to this conversation (POST .../uploads) to send with the "
        "reply, in this order; refused (422) on a channel that cannot send files",
    )
    identity_id: Id | None = Field(
        None,
        description="reply to this identity of the customer; default: the conversation's "
        "default_identity_id (where they last wrote)",
    )
    send_now: bool = Field(
        False,
        description="send at once even outside the customer's contact hours (the agent's "
        "choice when their hours open after the WhatsApp window closes: see hours_open_at)",
    )

    @field_validator("attachment_ids")
    @classmethod
    def _each_once(cls, ids: list[int]) -> list[int]:
        if len(set(ids)) != len(ids):
            raise ValueError("names a file twice")
        return ids

    @model_validator(mode="after")
    def _says_something(self) -> ReplyIn:
        if not self.text and not self.attachment_ids:
            raise Unprocessable.in_field("text", "write a text or attach a file")
        return self


class NoteIn(Input):
    text: Text


class MyStatusIn(Input):
    away: bool
    backup_id: Id | None = Field(None, description="absent: keep my backup; null: clear it")


class AgentIn(Input):
    email: Email
    name: Name
    password: Password
    role: Role = "agent"


class AgentPatch(Input):
    name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    away: bool | None = None
    backup_id: Id | None = None
    password: Password | None = None


class ReassignIn(Input):
    to_agent_id: Id


class CustomersQuery(Input):
    q: Annotated[str, StringConstraints(max_length=200)] | None = None
    owner_id: Id | None = None


class CustomerPatch(Input):
    name: Name | None = None
    owner_id: Id | None = None
    backup_id: Id | None = None


class IdentityIn(Input):
    kind: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]


class MergeIn(Input):
    merge_customer_id: Id = Field(description="this customer is folded into the one in the path")


class AuditQuery(Input):
    subject_type: Literal["agent", "customer", "signin"] | None = None
    subject_id: Id | None = None
    limit: int = Field(100, ge=1, le=1000)


def present_fields(model: BaseModel, nullable: set[str]) -> dict[str, object]:
    """The fields a PATCH body set; ``null`` only counts for fields that may be cleared."""
    changes = {}
    for name in sorted(model.model_fields_set):
        value = getattr(model, name)
        if value is None and name not in nullable:
            raise Unprocessable.in_field(name, "cannot be null")
        changes[name] = value
    return changes


class HoursIn(Input):
    hours: HoursSettings | None = Field(description="the calendar; null removes it")


class ChannelRulesIn(Input):
    hours: HoursSettings | None = Field(
        None, description="the channel's contact hours; null: the hub default applies"
    )
    never_hold: bool = False
    autoreply_template: Template = Field(
        None, description="placeholders {owner} {opens} {zone}; null: the hub default"
    )
    first_response_minutes: int | None = Field(None, ge=1, le=525_600)
    next_response_minutes: int | None = Field(None, ge=1, le=525_600)


MAX_ABSENCE_DAYS = 400


class AbsenceIn(Input):
    """Dates (inclusive, in the agent's hours zone) or exact times; neither: today (sick today)."""

    reason: Literal["holiday", "sick", "other"]
    from_date: date | None = Field(None, description="first day away")
    to_date: date | None = Field(None, description="last day away (inclusive); default: from_date")
    starts_at: AwareDatetime | None = Field(None, description="instead of dates: away from")
    ends_at: AwareDatetime | None = Field(None, description="instead of dates: back at")

    def checked(self) -> AbsenceIn:
        """This absence, or a 422 naming the field that makes it impossible."""
        uses_dates = self.from_date is not None or self.to_date is not None
        if uses_dates and (self.starts_at or self.ends_at):
            raise Unprocessable.in_field(
                "starts_at", "give dates (from_date, to_date) or times, not both"
            )
        if self.to_date is not None and self.from_date is None:
            raise Unprocessable.in_field("from_date", "required with to_date")
        if self.from_date and self.to_date:
            if self.to_date < self.from_date:
                raise Unprocessable.in_field("to_date", "is before from_date")
            if (self.to_date - self.from_date).days >= MAX_ABSENCE_DAYS:
                raise Unprocessable.in_field(
                    "to_date", f"an absence lasts at most {MAX_ABSENCE_DAYS} days"
                )
        if (self.starts_at is None) != (self.ends_at is None):
            raise Unprocessable.in_field(
                "ends_at" if self.ends_at is None else "starts_at", "both times needed"
            )
        if self.starts_at and self.ends_at:
            if self.ends_at <= self.starts_at:
                raise Unprocessable.in_field("ends_at", "is not after starts_at")
            if (self.ends_at - self.starts_at).days >= MAX_ABSENCE_DAYS:
                raise Unprocessable.in_field(
                    "ends_at", f"an absence lasts at most {MAX_ABSENCE_DAYS} days"
                )
        return self


class CustomerHoursIn(Input):
    hours: HoursSettings | None = Field(
        description="the contact hours agreed with this customer, in their zone; null: none"
    )
    always_reachable: bool = False


class AgreedChannelIn(Input):
    agreed_channel: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None
    ) = Field(
        description="the identity kind replies go to by default (email, telegram, slack, "
        "webchat, or an API channel's kind), one the customer has; null: where they last wrote"
    )


class ScheduledEditIn(Input):
    text: Text


class ScopeQuery(Input):
    """For the Held and Scheduled views."""

    scope: Literal["mine", "all"] = Field("mine", description="all: everyone's (admins only)")


class BodyQuery(Input):
    images: bool = Field(False, description="allow the body's remote images to load")


class CannedIn(Input):
    title: Name
    text: Text


class ChannelPatch(Input):
    enabled: bool = Field(description="start or stop the channel now; kept across restarts")


class HoursPreviewIn(Input):
    hours: HoursSettings = Field(description="the calendar to preview (it need not be saved)")
    days: int = Field(14, ge=1, le=62, description="how many days, from today in its zone")


class TemplatePreviewIn(Input):
    template: Template = Field(None, description="the template; null: the channel's or the hub's")
    channel: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="whose hours and stored template to use; null: the hub default"
    )
