"""The one event bus: what changed, told to the agents it concerns.

Events are rows of the ``events`` table (so a client that reconnects can ask
for what it missed) and, once committed, are published here to the live
subscribers of this process.

The same path carries what a channel's connector must hear in every hub
process (:data:`CHANNEL_BROADCAST`: a reply for a widget whose socket another
process holds). No agent is ever sent those.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.db.database import Tx

log = logging.getLogger(__name__)

CHANNEL_BROADCAST = "channel.broadcast"
"""Kind of the events addressed to a channel's connectors, never to agents:
payload ``{"channel": name, "data": what the connector was told}``."""


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    agent_id: int | None
    conversation_id: int | None
    data: str
    """The payload as JSON text, as stored: serialized once, sent on as it is."""
    created_at: datetime

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.data)

    @cached_property
    def frame(self) -> str:
        """The event as the inbox's WebSocket receives it (JSON), made once for all listeners."""
        head = json.dumps(
            {
                "id": self.id,
                "kind": self.kind,
                "conversation_id": self.conversation_id,
                "at": self.created_at.isoformat(),
            }
        )
        return f'{head[:-1]}, "data": {self.data}}}'


def agent_wants(agent_id: int, event: Event) -> bool:
    """Whether an agent is told: events to them or to every agent, none for channels."""
    return event.kind != CHANNEL_BROADCAST and event.agent_id in (None, agent_id)


def channel_wants(channel: str, event: Event) -> bool:
    return event.kind == CHANNEL_BROADCAST and event.payload["channel"] == channel


class Subscription:
    """Events for one listener (an agent's socket, a channel), held until it takes them.

    A consumer that falls ``limit`` events behind is cut off (``overflowed``)
    rather than letting memory grow; it reconnects and replays from the table.
    Taking everything pending at once keeps one slow wake-up from turning
    into a backlog when messages arrive faster than the loop schedules us.
    """

    def __init__(
        self,
        bus: EventBus,
        wants: Callable[[Event], bool],
        limit: int,
        agent_id: int | None = None,
    ) -> None:
        self.wants = wants
        self.agent_id = agent_id
        """The agent listening (an open inbox), if it is an agent."""
        self.overflowed = False
        self._pending: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._limit = limit
        self._bus = bus

    def offer(self, event: Event) -> None:
        if len(self._pending) >= self._limit:
            self.overflowed = True
            self.close()
        else:
            self._pending.append(event)
        self._ready.set()

    async def next_batch(self) -> list[Event]:
        """Everything pending, waiting for at least one event; empty once overflowed."""
        if not self.overflowed:
            await self._ready.wait()
            self._ready.clear()
        if self.overflowed:
            return []
        batch = list(self._pending)
        self._pending.clear()
        return batch

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, subscriber_limit: int = 10_000) -> None:
        self._subscriptions: set[Subscription] = set()
        self._limit = subscriber_limit

    def subscribe(self, agent_id: int) -> Subscription:
        """What agent ``agent_id`` is told, from now on."""
        return self._add(partial(agent_wants, agent_id), agent_id)

    def listening_agents(self) -> frozenset[int]:
        """The agents with an open inbox in this process."""
        return frozenset(s.agent_id for s in self._subscriptions if s.agent_id is not None)

    def subscribe_channel(self, channel: str) -> Subscription:
        """What is broadcast to ``channel``'s connectors, from now on."""
        return self._add(partial(channel_wants, channel))

    def _add(self, wants: Callable[[Event], bool], agent_id: int | None = None) -> Subscription:
        subscription = Subscription(self, wants, self._limit, agent_id)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, events: list[Event]) -> None:
        for subscription in list(self._subscriptions):
            for event in events:
                if subscription.wants(event):
                    subscription.offer(event)


def store_broadcast(channel: str, data: dict[str, Any], tx: Tx) -> None:
    """A write unit: ``data`` for ``channel``'s connector in every hub process, after commit."""
    tx.emit(CHANNEL_BROADCAST, {"channel": channel, "data": data}, to=[None])


async def channel_broadcasts(bus: EventBus, channel: str) -> AsyncIterator[dict[str, Any]]:
    """What is broadcast to ``channel`` in this process, in order, for as long as it is read.

    A reader that falls behind misses what overflowed (logged) and reads on.
    """
    while True:
        with bus.subscribe_channel(channel) as subscription:
            while batch := await subscription.next_batch():
                for event in batch:
                    yield event.payload["data"]
        log.warning("channel %s: fell behind; some broadcasts were dropped", channel)
