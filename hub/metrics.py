"""Prometheus metrics: what operators watch, per process, scraped at ``/metrics``.

Counters and the request-latency histogram are kept in memory as things
happen; the figures that live in the database (held messages, outbox backlog
and failures, release lag) are read when the endpoint is scraped, so the
ingest path pays for one counter increment and nothing more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import Connection, func, select

from hub.db.schema import messages, outbox

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


@dataclass(frozen=True)
class StoredFigures:
    held: int
    outbox_backlog: int
    outbox_failed: int
    oldest_overdue_release: datetime | None


def read_stored_figures(now: datetime, conn: Connection) -> StoredFigures:
    held, overdue = conn.execute(
        select(
            func.count(),
            func.min(messages.c.release_at).filter(messages.c.release_at <= now),
        ).where(messages.c.state == "held")
    ).one()
    by_state = dict(
        conn.execute(
            select(outbox.c.state, func.count())
            .where(outbox.c.state.in_(("pending", "sending", "failed")))
            .group_by(outbox.c.state)
        ).all()
    )
    return StoredFigures(
        held=held,
        outbox_backlog=by_state.get("pending", 0) + by_state.get("sending", 0),
        outbox_failed=by_state.get("failed", 0),
        oldest_overdue_release=overdue,
    )


class HubMetrics:
    """One registry per hub, so tests running several hubs never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages_in = Counter(
            "hub_messages_in",
            "Customer messages stored, per channel (duplicates not counted)",
            ["channel"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "hub_http_request_seconds",
            "HTTP request latency, per route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.held = Gauge(
            "hub_held_messages", "Messages held for contact hours", registry=self.registry
        )
        self.outbox_backlog = Gauge(
            "hub_outbox_backlog", "Outbound messages not yet sent", registry=self.registry
        )
        self.outbox_failed = Gauge(
            "hub_outbox_failed", "Outbound messages that failed for good", registry=self.registry
        )
        self.release_lag = Gauge(
            "hub_release_lag_seconds",
            "How late the oldest held message that is due for release is (0 when none)",
            registry=self.registry,
        )

    def show_stored(self, figures: StoredFigures, now: datetime) -> None:
        self.held.set(figures.held)
        self.outbox_backlog.set(figures.outbox_backlog)
        self.outbox_failed.set(figures.outbox_failed)
        overdue = figures.oldest_overdue_release
        self.release_lag.set((now - overdue).total_seconds() if overdue else 0.0)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def route_label(request: web.Request) -> str:
    """The route's pattern, not the concrete path, so ids never become label values."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def latency_middleware(metrics: HubMetrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def observe(
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)
        with metrics.request_seconds.labels(route_label(request), request.method).time():
            return await handler(request)

    return observe
