"""What admins see of escalation: the conversations overdue and due soon."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.api.framework import Access, Api, Call
from hub.escalation import escalated

escalation_api = Api()


class Ref(BaseModel):
    id: int
    name: str


class EscalatedConversation(BaseModel):
    conversation_id: int
    escalation: Literal["due_soon", "overdue"]
    customer: Ref
    handler: Ref | None = Field(description="who handles it now; null: waiting for the owner")
    owner: Ref | None
    backup: Ref | None = Field(
        description="who an overdue notice goes to: the customer's backup, else the owner's"
    )
    reply_due_at: str = Field(description="ISO 8601, counted in the customer's applicable hours")
    late_seconds: int = Field(
        description="how late, in wall-clock seconds since the due time; negative: still due"
    )
    due_soon_notified_at: str | None = Field(description="when the handler was told; ISO 8601")
    overdue_notified_at: str | None = Field(
        description="when the backup and the admins were told; ISO 8601"
    )


class OverdueReport(BaseModel):
    now: str = Field(description="the hub's clock when this was read (ISO 8601)")
    overdue: list[EscalatedConversation] = Field(description="most overdue first")
    due_soon: list[EscalatedConversation] = Field(description="soonest due first")


@escalation_api.route(
    "GET",
    "/api/admin/overdue",
    summary="Open conversations whose reply is overdue or due soon (business-hours SLA)",
    access=Access.ADMIN,
    tag="admin",
    response=OverdueReport,
)
async def overdue(call: Call) -> dict[str, Any]:
    now = call.hub.clock.now()
    report = await call.hub.db.read(partial(escalated, now))
    return OverdueReport(now=now.isoformat(), **report).model_dump(mode="json")
