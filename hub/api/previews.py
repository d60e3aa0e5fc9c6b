"""Previews for the admin console: a calendar's next days, an auto-reply as a customer sees it.

Both are computed by the code the hub itself runs (``routing/``), so what an
admin previews is what customers get.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.api.answers import HoursPreview, TemplatePreview
from hub.api.framework import Access, Api, Call
from hub.api.models import HoursPreviewIn, TemplatePreviewIn
from hub.contact import DEFAULT_CHANNEL, rules_for
from hub.errors import Unprocessable
from hub.promises import NO_CUSTOMER
from routing.autoreply import AutoreplyFacts, autoreply_text
from routing.calendar import ALWAYS_OPEN, Calendar
from routing.calendar_queries import DayHours, days_ahead, is_open, next_closing, next_opening

previews_api = Api()


@previews_api.route(
    "POST",
    "/api/admin/hours/preview",
    summary="The open hours a calendar gives over the next days, in its own zone",
    access=Access.ADMIN,
    tag="admin",
    body=HoursPreviewIn,
    response=HoursPreview,
)
async def preview_hours(call: Call) -> dict[str, Any]:
    body: HoursPreviewIn = call.body
    calendar = body.hours.calendar()
    zone = ZoneInfo(calendar.zone)
    days = days_ahead(calendar, call.hub.clock.now(), body.days)
    return {"zone": calendar.zone, "days": [day_json(day, zone) for day in days]}


def day_json(day: DayHours, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "date": day.day.isoformat(),
        "weekday": f"{day.day:%a}".lower(),
        "exception": day.exception,
        "holiday": day.holiday,
        "open": [
            {
                "from": local_clock(start, zone, day.day),
                "to": local_clock(end, zone, day.day),
                "start": start.isoformat(),
                "end": end.isoformat(),
            }
            for start, end in day.intervals
        ],
    }


def local_clock(moment: datetime, zone: ZoneInfo, day: date) -> str:
    """HH:MM on the wall clock of ``day``; the midnight that ends the day is 24:00."""
    local = moment.astimezone(zone)
    if local.date() > day:
        return "24:00"
    return f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"


@previews_api.route(
    "POST",
    "/api/admin/templates/preview",
    summary="An auto-reply as a customer writing now would get it (you as the owner)",
    access=Access.ADMIN,
    tag="admin",
    body=TemplatePreviewIn,
    response=TemplatePreview,
)
async def preview_template(call: Call) -> dict[str, Any]:
    body: TemplatePreviewIn = call.body
    channel = body.channel or DEFAULT_CHANNEL
    if body.channel is not None and call.hub.settings.channel(body.channel) is None:
        reason = f"channel {body.channel!r} is not configured"
        raise Unprocessable.in_field("channel", reason)
    rules = await call.hub.db.read(lambda conn: rules_for(conn, NO_CUSTOMER, channel, False))
    now = call.hub.clock.now()
    opens = sample_opening(rules.hours or ALWAYS_OPEN, now)
    template = rules.autoreply_template if body.template is None else body.template
    me = call.agent.name
    facts = AutoreplyFacts(me, me, opens, None, True, opens, rules.told_zone(None))
    text = autoreply_text(template, facts, now)
    return {"text": text, "opens_at": opens.isoformat(), "zone": rules.customer_zone}


def sample_opening(calendar: Calendar, now: datetime) -> datetime:
    """When a message held now would be released; while open, the opening after the closing."""
    closed_from = now if not is_open(calendar, now) else next_closing(calendar, now)
    opening = next_opening(calendar, closed_from) if closed_from is not None else None
    return opening or now
