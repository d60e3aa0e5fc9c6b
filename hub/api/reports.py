"""Reports as JSON (``/api/reports/<name>``) and CSV (``/api/reports/<name>.csv``):
admins see everyone's, an agent the report of their own customers.

The figures are ``hub/reports.py``'s; the definitions are in ``docs/reports.md`` and on
the page. A new report is a row model and an entry in ``ROWS``.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, create_model, field_validator, model_validator

from connectors.route_docs import Raw
from hub.absences import midnight
from hub.api.answers import Answer
from hub.api.framework import Access, Api, Call
from hub.api.models import Input
from hub.errors import Unavailable
from hub.reports import Period, report
from hub.senders import ZONES
from routing.calendar import zone_info

reports_api = Api()
LONGEST = timedelta(days=731)
DEFAULT_DAYS = 28


class ReportQuery(Input):
    from_: date | None = Field(
        None, alias="from", description="first day (in zone); default: 27 days before to"
    )
    to: date | None = Field(None, description="last day, included (in zone); default: today")
    zone: str = Field("UTC", description="the zone days, weeks and hours of the week are in")

    @field_validator("zone")
    @classmethod
    def _known(cls, zone: str) -> str:
        if zone not in ZONES:
            raise ValueError(f"unknown time zone {zone!r}; use an IANA name like Europe/Berlin")
        return zone

    @model_validator(mode="after")
    def _ordered(self) -> ReportQuery:
        if self.from_ and self.to and not self.from_ <= self.to <= self.from_ + LONGEST:
            raise ValueError("from must be on or before to, at most two years apart")
        return self


Group = Literal["all", "owner", "channel", "week"]


class ResponseTimes(Answer):
    group: Group
    key: str = Field(description="owner id, channel, the week's Monday; empty for all")
    kind: Literal["first", "next"]
    count: int
    median_seconds: float | None = Field(description="business seconds")
    p90_seconds: float | None = Field(description="business seconds, nearest rank")


class SlaRow(Answer):
    group: Group
    key: str
    met: int
    missed: int
    pending: int = Field(description="not replied, target not passed yet: not in met_percent")
    met_percent: float | None


class DueRow(Answer):
    owner: str = Field(description="the customers' owner's id; empty: nobody's")
    due_soon: int
    overdue: int


class HeldRow(Answer):
    weekday: int = Field(description="0 Monday to 6 Sunday, in zone")
    hour: int = Field(description="0 to 23, in zone")
    held: int


class WeekCount(Answer):
    week: str = Field(description="the week's Monday (ISO date, in zone)")
    count: int


class ContinuityRow(Answer):
    owner_id: int | None
    owner: int = Field(description="conversations answered only by the customer's owner")
    backup: int = Field(description="conversations answered only by others")
    both: int
    owner_share: float | None


class LoadRow(Answer):
    owner_id: int | None
    open_conversations: int
    customers: int


class FailureRow(Answer):
    channel: str
    reason: str = Field(description="the error's first line")
    count: int


class SatisfactionRow(Answer):
    owner_id: int | None = Field(description="the owner when the conversation was resolved")
    channel: str
    asked: int
    answered: int
    mean: float | None = Field(description="the mean score, 1 to 5; null: no answer yet")
    score_1: int
    score_2: int
    score_3: int
    score_4: int
    score_5: int


class TagRow(Answer):
    tag: str
    colour: str = Field(description="#rrggbb")
    conversations: int = Field(description="conversations started in the period with the tag")
    open: int = Field(description="of which still open")


ROWS: dict[str, tuple[type[BaseModel], str]] = {
    "responses": (ResponseTimes, "First and next response times in business hours"),
    "sla": (SlaRow, "Replies within the SLA, in business hours"),
    "due": (DueRow, "Open conversations due soon and overdue now"),
    "held": (HeldRow, "Messages held outside hours, by hour of the week"),
    "autoreplies": (WeekCount, "Auto-replies sent per week"),
    "continuity": (ContinuityRow, "Conversations answered by the owner or a backup"),
    "load": (LoadRow, "Open conversations and customers per owner"),
    "failures": (FailureRow, "Undeliverable replies by channel and reason"),
    "satisfaction": (SatisfactionRow, "Satisfaction answers per owner and channel"),
    "tags": (TagRow, "Conversations per tag"),
}


class Report(Answer):
    report: str
    scope: Literal["all", "mine"] = Field(description="mine: the caller's own customers")
    start: str = Field(description="ISO 8601, included")
    end: str = Field(description="ISO 8601, excluded")
    zone: str
    now: str = Field(description="the hub's clock when computed")
    agents: dict[str, str] = Field(description="names of the agents by id")
    rows: list[Any]


def _answer_model(name: str, rows: type[BaseModel]) -> type[Report]:
    return create_model(f"{name.title()}Report", __base__=Report, rows=(list[rows], ...))


def period_of(call: Call, query: ReportQuery) -> Period:
    now = call.hub.clock.now()
    zone = zone_info(query.zone)
    last = query.to or now.astimezone(zone).date()
    first = query.from_ or last - timedelta(days=DEFAULT_DAYS - 1)
    owner = None if call.agent.is_admin else call.agent.agent_id
    end = midnight(last + timedelta(days=1), zone)
    return Period(midnight(first, zone), end, query.zone, now, owner)


async def _compute(name: str, call: Call) -> dict[str, Any]:
    behind = await call.hub.report_counts.catch_up()
    if behind is not None:
        raise Unavailable(
            f"reports are being prepared: {behind.percent}% of the stored messages counted;"
            " try again in a minute",
            percent=behind.percent,
        )
    period = period_of(call, call.query)
    figures = await call.hub.db.read(partial(report, name, period))
    return {
        "report": name,
        "scope": "mine" if period.owner_id is not None else "all",
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "zone": period.zone,
        "now": period.now.isoformat(),
        **figures,
    }


def as_csv(rows_model: type[BaseModel], rows: list[dict[str, Any]]) -> str:
    """The rows with a header row of the model's fields."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows_model.model_fields), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _register(name: str, rows_model: type[BaseModel], summary: str) -> None:
    async def answer_json(call: Call) -> dict[str, Any]:
        return await _compute(name, call)

    async def answer_csv(call: Call) -> web.Response:
        figures = await _compute(name, call)
        stamp = datetime.fromisoformat(figures["now"]).strftime("%Y%m%d")
        return web.Response(
            text=as_csv(rows_model, figures["rows"]),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'},
        )

    common = {"access": Access.AGENT, "tag": "reports", "query": ReportQuery}
    reports_api.route(
        "GET",
        f"/api/reports/{name}",
        summary=summary,
        response=_answer_model(name, rows_model),
        operation_id=f"report_{name}",
        **common,  # type: ignore[arg-type]
    )(answer_json)
    reports_api.route(
        "GET",
        f"/api/reports/{name}.csv",
        summary=f"{summary} (CSV)",
        response=Raw("text/csv", "the report's rows under a header row"),
        operation_id=f"report_{name}_csv",
        **common,  # type: ignore[arg-type]
    )(answer_csv)


for _name, (_rows, _summary) in ROWS.items():
    _register(_name, _rows, _summary)
