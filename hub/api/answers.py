"""What the HTTP API answers: the success bodies its OpenAPI document describes.

Each model lists every field an answer has and refuses others, so the document
says exactly what comes back (``tests/test_openapi.py`` holds real answers to it).
Times are ISO 8601 strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from config.schema import HoursSettings
from hub.notify_settings import NotifySettings

Role = Literal["agent", "admin"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Named(Answer):
    id: int
    name: str | None


class Agent(Answer):
    id: int
    email: str
    name: str
    role: Role
    active: bool
    away: bool
    backup_id: int | None
    two_factor: bool = Field(description="two-factor sign-in is set up")


class AgentSignedIn(Agent):
    must_enrol_two_factor: bool = Field(
        description="the team requires two-factor sign-in and this agent must set it up first"
    )


class Me(AgentSignedIn):
    csrf_token: str | None = Field(description="for a cookie session; null for a bearer token")


class MessagePreview(Answer):
    direction: Literal["in", "out"]
    channel: str | None
    state: str
    author_id: int | None
    text: str = Field(description="the start of the text")


class Tag(Answer):
    id: int
    name: str
    colour: str = Field(description="#rrggbb")


class ConversationSummary(Answer):
    id: int
    state: Literal["open", "resolved"]
    customer: Named
    owner_id: int | None = Field(description="the customer's owner")
    assignee_id: int | None = Field(description="who handles it now")
    waiting_for_owner: bool = Field(description="open and nobody handles it")
    last_channel: str | None
    last_message_at: datetime | None
    unread_count: int
    created_at: datetime
    resolved_at: datetime | None
    reply_due_at: datetime | None = Field(description="when the customer is owed a reply")


class ConversationListed(ConversationSummary):
    escalation: Literal["due_soon", "overdue"] | None
    last_message: MessagePreview | None = Field(description="the last one that is not a note")
    held_count: int = Field(description="messages held for contact hours")
    tags: list[Tag] = Field(description="by name")


class Message(Answer):
    id: int
    conversation_id: int
    direction: Literal["in", "out", "note"]
    channel: str | None
    identity_id: int | None = Field(description="the customer identity it came from or went to")
    author_id: int | None
    author_name: str | None
    text: str
    html: str | None = Field(description="the sanitized HTML body, if it came with one")
    state: str = Field(
        description="received, queued, held, scheduled, sending, sent, failed, cancelled"
    )
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    release_at: datetime | None = Field(description="held or scheduled: when it is released")
    automatic: bool = Field(description="the hub wrote it (an auto-reply)")
    meta: dict[str, Any] = Field(description="channel details (subjects, attachments, ...)")
    window_notice: str | None = Field(
        None, description="on a new reply that leaves after the WhatsApp window closes"
    )


class Identity(Answer):
    id: int
    kind: str
    address: str
    display_name: str | None
    last_channel: str | None
    verified_by: str | None = Field(description="what proved it is the customer's")
    opted_out_channel: str | None = Field(
        None, description="the channel they told to stop (an SMS STOP): replies there are refused"
    )
    opted_out_at: datetime | None = None


class Claim(Answer):
    kind: str
    address: str
    channel: str | None
    reason: str | None
    at: datetime
    holder: Named | None = Field(description="the customer who holds that identity, if any")


class Satisfaction(Answer):
    channel: str
    state: str | None = Field(description="the question's message: scheduled, queued, sent, ...")
    sent_at: datetime | None
    expires_at: datetime = Field(description="until when the customer can answer")
    answered_at: datetime | None
    score: int | None = Field(description="1 (bad) to 5 (great)")
    comment: str | None


class ServiceWindow(Answer):
    channel: str
    identity_id: int = Field(description="the customer's number the window is with")
    closes_at: datetime = Field(description="24 hours after the customer last wrote there")
    open: bool = Field(description="free-form replies are allowed now")
    hours_open_at: datetime | None = Field(
        None,
        description="when the customer's contact hours open, if a reply written now would "
        "wait for them: after closes_at, the agent chooses between sending now (send_now) "
        "and the template at their hours",
    )


class ConversationDetail(ConversationSummary):
    messages: list[Message]
    identities: list[Identity]
    default_identity_id: int | None = Field(description="where a reply goes by default")
    agreed_channel: str | None
    claims: list[Claim] = Field(description="addresses the customer gave that nothing proved")
    other_conversations: list[ConversationSummary]
    tags: list[Tag] = Field(description="by name")
    satisfaction: Satisfaction | None = Field(
        None, description="the question asked after it was resolved, and the answer"
    )
    service_windows: list[ServiceWindow] = Field(
        [],
        description="each of the customer's numbers that wrote on a WhatsApp channel (in any "
        "conversation): when free-form replies to it there stop",
    )


class Customer(Answer):
    id: int
    name: str | None
    owner_id: int | None
    backup_id: int | None
    agreed_channel: str | None
    zone: str | None
    locale: str | None
    created_at: datetime
    identities: list[Identity]
    claims: list[Claim]


class ContactNow(Answer):
    zone: str
    source: Literal["customer", "channel", "default"] | None = Field(
        description="whose calendar applies; null: no hours at all"
    )
    always_reachable: bool
    open: bool
    opens_at: datetime | None
    closes_at: datetime | None
    now: datetime
    channel: str | None = Field(description="where the customer last wrote")


class CustomerPanel(Customer):
    owner: Named | None
    backup: Named | None
    contact: ContactNow


class MergedCustomer(Customer):
    open_conversation_id: int | None


class Reassigned(Answer):
    moved_customers: list[int]
    from_agent_id: int
    to_agent_id: int


class ChannelRef(Answer):
    name: str
    kind: str


class SmsSegments(Answer):
    encoding: Literal["GSM-7", "UCS-2"] = Field(
        description="GSM-7 while every character is in the GSM alphabet, else UCS-2"
    )
    count: int = Field(description="SMS the text is sent as (billed as that many)")
    units: int = Field(description="septets (GSM-7, extension characters two) or UTF-16 units")
    per_segment: int = Field(description="units one SMS holds at this length: 160/153 or 70/67")
    left: int = Field(description="units still free in the last SMS")


class ChannelState(ChannelRef):
    enabled: bool
    enabled_in_config: bool
    status: Literal["running", "stopped", "disabled"]
    reason: str | None = Field(description="why it stopped")
    identity_kind: str
    credentials: list[str] = Field(description="environment variables it reads secrets from")


class ChannelTest(Answer):
    channel: str
    ok: bool
    detail: str


class AuditEntry(Answer):
    id: int
    actor_id: int | None
    actor_name: str | None
    action: str
    subject_type: str
    subject_id: int | None
    details: dict[str, Any] | None
    at: datetime


class Quarantined(Answer):
    id: int
    channel: str
    reason: str
    received_at: datetime
    size: int = Field(description="bytes")


class QuarantinedOne(Quarantined):
    preview: str = Field(description="the start of the raw input as text")


class DefaultHours(Answer):
    hours: HoursSettings | None


class ChannelRules(Answer):
    channel: str
    hours: HoursSettings | None
    never_hold: bool
    autoreply_template: str | None = None
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None


class CustomerHours(Answer):
    customer_id: int
    hours: HoursSettings | None
    always_reachable: bool


class Waiting(Answer):
    """A held message or a scheduled reply."""

    id: int
    conversation_id: int
    channel: str | None
    text: str
    created_at: datetime
    release_at: datetime | None
    author_id: int | None
    author_name: str | None
    customer_id: int
    customer_name: str | None
    owner_id: int | None


class AgentHours(Answer):
    agent_id: int
    hours: HoursSettings | None = Field(description="null: none set, always working")


class Absence(Answer):
    id: int
    agent_id: int
    starts_at: datetime
    ends_at: datetime
    reason: Literal["holiday", "sick", "other"]
    handed_over_at: datetime | None
    handed_back_at: datetime | None
    created_by: int | None


class OpenInterval(Answer):
    model_config = ConfigDict(populate_by_name=True)

    opens: str = Field(alias="from", description="local clock, HH:MM")
    closes: str = Field(alias="to", description="local clock, HH:MM (24:00: midnight)")
    start: datetime
    end: datetime


class PreviewDay(Answer):
    date: str
    weekday: str
    exception: bool = Field(description="an exception of the calendar decides this day")
    holiday: str | None
    open: list[OpenInterval]


class HoursPreview(Answer):
    zone: str
    days: list[PreviewDay]


class TemplatePreview(Answer):
    text: str
    opens_at: datetime
    zone: str


class Canned(Answer):
    id: int
    title: str
    text: str


class Deleted(Answer):
    id: int
    deleted: bool


class MyNotifications(NotifySettings):
    channels: dict[str, list[str]] = Field(
        description="the hub channels notifications can go through, by kind"
    )


class TelegramCode(Answer):
    channel: str
    code: str
    send: str = Field(description="what to send the bot")
    link: str | None = Field(description="a t.me link that sends it, if the bot is known")
    expires_at: datetime


class Health(Answer):
    status: Literal["up", "ready", "not ready"]
    reason: str | None = Field(None, description="why not ready")
