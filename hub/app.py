"""The hub: one object that owns the database, the event bus, the connectors and the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aiohttp import web
from sqlalchemy import Connection, select

from config.schema import Settings
from connectors.base import (
    Address,
    Connector,
    ConnectorError,
    Cursor,
    DeliveryReport,
    InboundMessage,
    IngestResult,
)
from connectors.dns import Resolver, SystemResolver
from connectors.registry import build_connector
from hub.access_log import trace_requests
from hub.api.framework import HUB_KEY, json_errors
from hub.api.routes import mount as mount_api
from hub.channel_support import (
    load_channel_switches,
    load_or_create_state,
    load_state,
    save_channel_switch,
    save_state,
    store_quarantine,
)
from hub.clients import client_address, client_key, proxy_networks, request_urls
from hub.clock import Clock, SystemClock
from hub.contact import seed_from_settings
from hub.db.database import Database, open_database
from hub.db.migrate import migrate
from hub.db.schema import identities, messages
from hub.errors import NotFound
from hub.escalation import Escalations
from hub.events import EventBus, channel_broadcasts
from hub.handover import AbsenceHandOver
from hub.holds import Holds
from hub.identities import identity_pools
from hub.ingest import ingest
from hub.leader import Leadership, Work
from hub.link_codes import link_chat_with_code
from hub.listener import ConnectionGuard, guard_middleware
from hub.metrics import HubMetrics, latency_middleware
from hub.notifier import NoticeWorker
from hub.outbox import Outbox
from hub.passwords import PasswordWork
from hub.promises import NewVisitorGreetings, Reported, visitor_greeting
from hub.receipts import record_delivery_report
from hub.report_counts import ReportCounts
from hub.retry import RetryPolicy
from hub.senders import known_locale, known_zone
from hub.serialize import message_json
from hub.signin_limits import SigninLimits
from hub.verification import Verification
from hub.web.pages import mount as mount_pages
from routing.autoreply import customer_locale

log = logging.getLogger(__name__)

SECRET_KEY_STATE = "secret_key"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class StartFailed(Exception):
    """A channel did not start, so the hub did not either (the message names it)."""


class Hub:
    def __init__(
        self, settings: Settings, clock: Clock | None = None, resolver: Resolver | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.resolver = resolver or SystemResolver()
        self.bus = EventBus()
        self.db: Database = open_database(
            settings.database.url, self.clock, self.bus, settings.database.writers
        )
        self.secret_key = b""
        self.metrics = HubMetrics()
        self.signin_limits = SigninLimits.from_settings(settings.auth)
        self.passwords = PasswordWork()
        self.trusted_proxies = proxy_networks(settings.http.trusted_proxies)
        self.identity_pools = identity_pools(settings.channels)
        self.verifier = Verification(self)
        self.new_visitor_greetings = NewVisitorGreetings()
        self.connection_guard = ConnectionGuard(settings.http)
        self.all_connectors: dict[str, Connector] = {
            channel.name: build_connector(channel, self) for channel in settings.channels
        }
        """Every configured channel's connector; ``connectors`` holds the enabled ones."""
        self.connectors: dict[str, Connector] = {}
        self._enable_only({channel.name for channel in settings.channels if channel.enabled})
        self.outbox = Outbox(
            self.db,
            self.connectors,
            self.clock,
            RetryPolicy(
                settings.outbox.base_delay_seconds,
                settings.outbox.max_delay_seconds,
                settings.outbox.max_attempts,
            ),
            timedelta(seconds=settings.outbox.lease_seconds),
        )
        self.holds = Holds(self.db, self.clock)
        self.notifier = NoticeWorker(
            self.db,
            self.connectors,
            self.clock,
            self.outbox.policy,
            lease=self.outbox.lease,
            window=timedelta(minutes=settings.notifications.batch_minutes),
            send_timeout=settings.notifications.send_timeout_seconds,
            inbox_url=f"{settings.http.base_url.rstrip('/')}/",
            live_agents=self.bus.listening_agents,
        )
        self.escalations = Escalations(
            self.db, self.clock, timedelta(minutes=settings.sla.due_soon_lead_minutes)
        )
        self.handover = AbsenceHandOver(self.db, self.clock, settings.absences.hand_over_after_days)
        self.report_counts = ReportCounts(self.db, self.clock)
        self.leadership = Leadership(
            settings.database.url if self.db.dialect == "postgresql" else None,
            settings.database.takeover_seconds,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._running: dict[str, contextlib.AsyncExitStack] = {}
        """Each started connector's open ``async with``, closed to stop it."""

    @property
    def public_url(self) -> str:
        """Where customers and platforms reach the hub (webhook URLs are built on it)."""
        return self.settings.http.base_url

    def client_address(self, request: web.Request) -> str:
        """The client behind ``request``, seen through the configured trusted proxies."""
        return client_address(request, self.trusted_proxies)

    def request_urls(self, request: web.Request) -> tuple[str, ...]:
        """Where ``request`` was sent, for signatures over the URL (Twilio's): the public
        URL, or what a trusted proxy says it was."""
        return request_urls(request, self.public_url, self.trusted_proxies)

    def client_key(self, request: web.Request) -> str:
        """What limits per client count by: the client's address, an IPv6 one by its /64."""
        return client_key(self.client_address(request))

    @property
    def channels_by_kind(self) -> dict[str, str]:
        """For each identity kind, the first channel able to reach it."""
        chosen: dict[str, str] = {}
        for name, connector in self.connectors.items():
            chosen.setdefault(connector.identity_kind, name)
        return chosen

    async def start(self, *, run_workers: bool = True) -> None:
        """Migrate, seed rules, release holds that fell due, start connectors and workers.

        Raises :class:`StartFailed` when a channel did not start, having stopped the
        channels it had started.
        """
        await migrate(self.db)
        await self.db.start()
        await self.db.write(partial(seed_from_settings, self.settings))
        self.secret_key = await self._load_secret_key()
        released = await self.holds.release_due()
        if released:
            log.info("released %d held messages that fell due while the hub was stopped", released)
        switches = await self.db.read(load_channel_switches)
        self._enable_only({n for n in self.all_connectors if switches.get(n, n in self.connectors)})
        await self._start_connectors()
        if run_workers:
            alone = {"notifier": self.notifier, "escalation": self.escalations}
            anywhere = {"outbox": self.outbox, "holds": self.holds, "handover": self.handover}
            for name, worker in {**alone, "reports": self.report_counts, **anywhere}.items():
                work = worker.run() if name in anywhere else self.run_alone(name, worker.run)
                self._tasks.append(asyncio.create_task(work, name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._stop_connectors()
        self.passwords.close()
        await self.db.close()

    async def _start_connectors(self) -> None:
        """Start the enabled channels in order; if one fails, stop those already started."""
        for name in self.connectors:
            try:
                await self._start_connector(name)
            except BaseException as error:
                await self._stop_connectors()
                if not isinstance(error, ConnectorError | OSError):
                    raise
                reason = error.reason if isinstance(error, ConnectorError) else str(error)
                raise StartFailed(f"channel {name} did not start: {reason}") from error

    async def _start_connector(self, name: str) -> None:
        """Enter the connector's ``async with`` (a failed start cleans up after itself), then
        run its ``listen`` until the channel stops (cancelled before the connector stops)."""
        running = contextlib.AsyncExitStack()
        connector = await running.enter_async_context(self.all_connectors[name])
        listening = asyncio.create_task(listen_until_stopped(connector), name=f"listen {name}")
        running.push_async_callback(cancel_and_wait, listening)
        self._running[name] = running

    async def _stop_connectors(self) -> None:
        for name in reversed(list(self._running)):
            await self._stop_connector(name)

    async def _stop_connector(self, name: str) -> None:
        try:
            await self._running.pop(name).aclose()
        except Exception:
            log.exception("connector %s did not stop cleanly", name)

    async def set_channel_enabled(self, name: str, enabled: bool) -> None:
        """Start or stop a configured channel now, and remember the choice for later starts."""
        if enabled and name not in self._running:
            await self._start_connector(name)
        await self.db.write(partial(save_channel_switch, name, enabled))
        on = {n for n in self.connectors if n != name} | ({name} if enabled else set())
        self._enable_only(on)
        if not enabled and name in self._running:
            await self._stop_connector(name)

    def _enable_only(self, names: set[str]) -> None:
        """Update ``connectors`` in place (the outbox shares it), in config order."""
        self.connectors.clear()
        self.connectors.update({n: c for n, c in self.all_connectors.items() if n in names})

    async def ingest(
        self, message: InboundMessage, *, cursor: Cursor | None = None
    ) -> IngestResult:
        """Store a customer message durably and route it; called by every connector.

        ``cursor`` is saved in the same transaction, so a crash can neither skip a
        message nor leave the connector re-reading one it already stored.
        """
        if message.channel not in self.connectors:
            state = "disabled" if message.channel in self.all_connectors else "not configured"
            raise NotFound(f"channel {message.channel!r} is {state}")
        pool = self.identity_pools.get(message.channel)
        result = await self.db.write(
            partial(ingest_with_cursor, message, pool, cursor), key=message.sender
        )
        if not result.duplicate:
            self.metrics.messages_in.labels(message.channel).inc()
        return result

    async def identity_history(self, address: Address, limit: int) -> list[dict[str, Any]]:
        """Messages to and from one identity, oldest first (what a widget may show)."""

        def history(conn: Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                select(messages)
                .join(identities, identities.c.id == messages.c.identity_id)
                .where(
                    identities.c.kind == address.kind,
                    identities.c.address == address.address,
                    messages.c.direction.in_(("in", "out")),
                )
                .order_by(messages.c.id.desc())
                .limit(limit)
            ).mappings()
            return [message_json(row) for row in reversed(list(rows))]

        return await self.db.read(history)

    async def greeting(
        self, channel: str, sender: Address | None, team: str, zone: str | None, locale: str | None
    ) -> str:
        # Only what the hub can use: the cache of new visitors' greetings is keyed on it.
        spoken = str(customer_locale(known_locale(locale)))
        seen, now = Reported(known_zone(zone), spoken), self.clock.now()
        if sender is None and (kept := self.new_visitor_greetings.get(channel, team, seen, now)):
            return kept
        line = await self.db.read(
            lambda conn: visitor_greeting(conn, channel, sender, team, seen, now)
        )
        if sender is None:
            self.new_visitor_greetings.keep(channel, team, seen, now, line)
        return line

    async def quarantine(self, channel: str, raw: bytes, reason: str) -> int:
        quarantine_id = await self.db.write(partial(store_quarantine, channel, raw, reason))
        log.warning("channel %s: quarantined input %d: %s", channel, quarantine_id, reason)
        return quarantine_id

    def now(self) -> datetime:
        return self.clock.now()

    async def delivery_report(self, channel: str, report: DeliveryReport) -> bool:
        return await self.db.write(partial(record_delivery_report, channel, report))

    async def load_state(self, key: str) -> str | None:
        return await self.db.read(partial(load_state, key))

    async def save_state(self, key: str, value: str) -> None:
        await self.db.write(partial(save_state, key, value))

    async def link_chat(self, channel: str, code: str, chat_id: str, cursor: Cursor | None) -> bool:
        return await link_chat_with_code(self, channel, code, chat_id, cursor)

    async def run_alone(self, name: str, work: Work) -> None:
        await self.leadership.run_alone(name, work)

    def broadcasts(self, channel: str) -> AsyncIterator[dict[str, Any]]:
        return channel_broadcasts(self.bus, channel)

    async def _load_secret_key(self) -> bytes:
        configured = self.settings.secret_key_env
        if configured is not None:
            return configured.reveal().encode()
        return (await self.db.write(partial(load_or_create_state, SECRET_KEY_STATE))).encode()

    def web_app(self) -> web.Application:
        app = web.Application(
            client_max_size=self.settings.http.max_body_bytes,
            middlewares=[
                latency_middleware(self.metrics),
                json_errors,
                guard_middleware(self.connection_guard),
            ],
        )
        app[HUB_KEY] = self
        trace_requests(app)
        mount_api(app)
        mount_pages(app)
        for name, connector in self.all_connectors.items():
            app.router.add_routes([self._only_enabled(name, r) for r in connector.routes()])
        app.on_response_prepare.append(add_security_headers)
        app.on_shutdown.append(self._close_client_connections)
        return app

    def _only_enabled(self, channel: str, route: web.RouteDef) -> web.RouteDef:
        """A connector's route that answers 404 while an admin has the channel switched off."""
        handler = route.handler

        async def guarded(request: web.Request) -> web.StreamResponse:
            if channel not in self.connectors:
                raise NotFound(f"channel {channel!r} is disabled")
            return await handler(request)

        return web.RouteDef(route.method, route.path, guarded, route.kwargs)

    async def _close_client_connections(self, _app: web.Application) -> None:
        """Let the web server stop at once instead of waiting for open widgets."""
        for connector in self.connectors.values():
            await connector.close_client_connections()


async def listen_until_stopped(connector: Connector) -> None:
    """Run ``connector.listen``; a crash is logged once and shown as the channel's halt."""
    try:
        await connector.listen()
    except Exception as error:
        reason = f"stopped receiving: unexpected {type(error).__name__}"
        log.exception("channel %s %s", connector.name, reason)
        connector.halt(ConnectorError(reason))


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def ingest_with_cursor(
    message: InboundMessage, pool: frozenset[str] | None, cursor: Cursor | None, tx: Any
) -> IngestResult:
    result = ingest(message, tx, pool=pool)
    if cursor is not None:
        save_state(cursor.key, cursor.value, tx)
    return result


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
