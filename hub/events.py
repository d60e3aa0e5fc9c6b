"""The one event bus: what changed, told to the agents it concerns.

Events are rows of the ``events`` table (so a client that reconnects can ask
for what it missed) and, once committed, are published here to the live
subscribers of this process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    agent_id: int | None
    conversation_id: int | None
    payload: dict[str, Any]
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "at": self.created_at.isoformat(),
            "data": self.payload,
        }


class Subscription:
    """Events for one agent, queued until the consumer takes them.

    A consumer that falls ``limit`` events behind is cut off (``overflowed``)
    rather than letting memory grow; it reconnects and replays from the table.
    """

    def __init__(self, bus: EventBus, agent_id: int, limit: int) -> None:
        self.agent_id = agent_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(limit)
        self.overflowed = asyncio.Event()
        self._bus = bus

    def wants(self, event: Event) -> bool:
        return event.agent_id is None or event.agent_id == self.agent_id

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()
            self.close()

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
        subscription = Subscription(self, agent_id, self._limit)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, events: list[Event]) -> None:
        for subscription in list(self._subscriptions):
            for event in events:
                if subscription.wants(event):
                    subscription.offer(event)
