"""Live events for the inbox over a WebSocket, resumable after a drop.

The client connects to ``/api/events?after=N`` with the last event id it saw;
it first gets every event it missed (from the ``events`` table), then a
``ready`` frame, then new events as they happen, each once and in id order.

Events travel as JSON arrays of one or more events, as many as were waiting
(one frame, one write, however many messages arrived at once); ``ready`` and
``reset`` are single JSON objects.

A cursor the hub cannot resume from gets ``reset`` (reload through the REST
API) before anything is sent: one above the newest stored event (a restored
database), or one more than ``REPLAY_LIMIT`` events behind.

A socket lives no longer than the session that opened it: when the session
ends (sign-out, password change, deactivation: a ``session.ended`` event for
the agent, from any hub process) or expires, the socket closes with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, web
from sqlalchemy import ColumnElement, Connection, Text, and_, cast, func, or_, select

from hub.api.framework import HUB_KEY, Access, authenticate, presented_token
from hub.auth import SESSION_ENDED, Principal, find_principal
from hub.clients import foreign_origin
from hub.db.database import Database
from hub.db.schema import events
from hub.errors import BadRequest, Forbidden
from hub.events import CHANNEL_BROADCAST, Event, Subscription

if TYPE_CHECKING:
    from hub.app import Hub

REPLAY_PAGE = 500
REPLAY_LIMIT = 10_000
CLOSE_FELL_BEHIND = 4000
CLOSE_SESSION_ENDED = 4401
OPEN_SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("event_sockets")


def for_agent(agent_id: int, after: int, upto: int) -> ColumnElement[bool]:
    """The stored events after ``after``, up to ``upto``, that the agent's socket is sent."""
    return and_(
        events.c.id > after,
        events.c.id <= upto,
        or_(events.c.agent_id == agent_id, events.c.agent_id.is_(None)),
        events.c.kind.not_in((SESSION_ENDED, CHANNEL_BROADCAST)),
    )


def missed_events(agent_id: int, after: int, upto: int, conn: Connection) -> list[Event]:
    rows = conn.execute(
        select(
            events.c.id,
            events.c.kind,
            events.c.agent_id,
            events.c.conversation_id,
            cast(events.c.payload, Text),
            events.c.created_at,
        )
        .where(for_agent(agent_id, after, upto))
        .order_by(events.c.id)
        .limit(REPLAY_PAGE)
    )
    return [Event(*row) for row in rows]


def newest_event_id(conn: Connection) -> int:
    return conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()


@dataclass(frozen=True)
class Resume:
    """Where a socket resumes: the newest stored id, and why it must reload instead, if so."""

    newest: int
    reset: str | None = None


def plan_resume(agent_id: int, after: int | None, conn: Connection) -> Resume:
    """Check the cursor before anything is sent: unknown or too far behind means reload."""
    newest = newest_event_id(conn)
    if after is None:
        return Resume(newest)
    if after > newest:
        return Resume(newest, f"no event {after} here (the newest is {newest}): reload")
    missed = select(events.c.id).where(for_agent(agent_id, after, newest)).limit(REPLAY_LIMIT + 1)
    counted = select(func.count()).select_from(missed.subquery())
    if conn.execute(counted).scalar_one() > REPLAY_LIMIT:
        return Resume(newest, f"more than {REPLAY_LIMIT} missed events: reload")
    return Resume(newest)


def requested_after(request: web.Request) -> int | None:
    raw = request.query.get("after")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise BadRequest("after must be the id of the last event received (a whole number)")
    return int(raw)


def check_origin(request: web.Request, principal: Principal, public_url: str) -> None:
    """A cookie-authenticated socket must come from our own pages (no cross-site hijack)."""
    origin = foreign_origin(request, public_url)
    if principal.via_cookie and origin:
        raise Forbidden(f"WebSocket from origin {origin} refused")


@dataclass(frozen=True)
class SessionWatch:
    """The session behind a socket: still there, and until when."""

    hub: Hub
    token: str
    principal: Principal

    def seconds_left(self) -> float | None:
        expires_at = self.principal.expires_at
        if expires_at is None:
            return None
        return max(0.0, (expires_at - self.hub.clock.now()).total_seconds())

    async def ended(self, batch: list[Event]) -> bool:
        """Whether the session expired, or (told by ``session.ended``) is gone."""
        if self.seconds_left() == 0:
            return True
        if not any(event.kind == SESSION_ENDED for event in batch):
            return False
        via_cookie = self.principal.via_cookie
        lookup = partial(find_principal, self.token, via_cookie, self.hub.clock.now())
        return await self.hub.db.read(lookup) is None


async def events_socket(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    principal = await authenticate(request, hub, Access.AGENT)
    assert principal is not None
    check_origin(request, principal, hub.public_url)
    session = SessionWatch(hub, presented_token(request)[0] or "", principal)
    after = requested_after(request)
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await socket.prepare(request)
    request.app[OPEN_SOCKETS].add(socket)
    with hub.bus.subscribe(principal.agent_id) as subscription:
        last = await replay(socket, hub.db, principal.agent_id, after)
        if last is None:
            return socket
        await socket.send_json({"kind": "ready", "last_id": last})
        forward = asyncio.create_task(forward_live(socket, subscription, last, session))
        try:
            async for _frame in socket:
                pass
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forward
    return socket


def frame_of(batch: list[Event]) -> str:
    """Events as one frame: a JSON array of each event's own, already made, JSON."""
    return "[" + ",".join(event.frame for event in batch) + "]"


async def replay(
    socket: web.WebSocketResponse, db: Database, agent_id: int, after: int | None
) -> int | None:
    """Send what the client missed; the id of the last one, or ``None`` if it must reload.

    The replay stops at the newest event stored when it began: later ones are
    already on their way through the subscription, taken before.
    """
    resume = await db.read(partial(plan_resume, agent_id, after))
    if resume.reset is not None:
        await socket.send_json({"kind": "reset", "reason": resume.reset})
        await socket.close(code=WSCloseCode.OK)
        return None
    if after is None:
        return resume.newest
    while page := await db.read(partial(missed_events, agent_id, after, resume.newest)):
        await socket.send_str(frame_of(page))
        after = page[-1].id
    return after


async def forward_live(
    socket: web.WebSocketResponse, subscription: Subscription, last: int, session: SessionWatch
) -> None:
    while True:
        try:
            batch = await asyncio.wait_for(subscription.next_batch(), session.seconds_left())
        except TimeoutError:
            batch = None
        if batch is None or await session.ended(batch):
            await socket.close(code=CLOSE_SESSION_ENDED, message=b"session ended")
            return
        if not batch:
            await socket.close(code=CLOSE_FELL_BEHIND, message=b"fell behind: reconnect")
            return
        fresh = []
        for event in batch:
            if event.id > last and event.kind != SESSION_ENDED:
                fresh.append(event)
                last = event.id
        if fresh:
            await socket.send_str(frame_of(fresh))


async def close_open_sockets(app: web.Application) -> None:
    """Tell open inboxes the hub is going away, so shutdown need not wait for them."""
    for socket in list(app[OPEN_SOCKETS]):
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"hub shutting down")


def mount(app: web.Application) -> None:
    app[OPEN_SOCKETS] = weakref.WeakSet()
    app.on_shutdown.append(close_open_sockets)
    app.router.add_get("/api/events", events_socket)
