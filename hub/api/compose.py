"""What the inbox's composer shows before a reply leaves: what an SMS reply will cost."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from connectors.twilio.segments import count_segments
from hub.api.answers import SmsSegments
from hub.api.framework import Access, Api, Call
from hub.api.models import Input, Text

compose_api = Api()


class SegmentsIn(Input):
    text: Text


@compose_api.route(
    "POST",
    "/api/sms/segments",
    summary="How many SMS a reply's text is sent as (GSM-7 160/153, else UCS-2 70/67)",
    access=Access.AGENT,
    tag="inbox",
    body=SegmentsIn,
    response=SmsSegments,
)
async def sms_segments(call: Call) -> dict[str, Any]:
    body: SegmentsIn = call.body
    return asdict(count_segments(body.text))
