"""The one event bus: what changed, told to the agents it concerns.

Events are rows of the ``events`` table (so a client that reconnects can ask
for what it missed) and, once committed, are published here to the live
subscribers of this process.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

log = logging.getLogger(__name__)


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


class Subscription:
    """Events for one agent, held until the consumer takes them in a batch.

    A consumer that falls ``limit`` events behind is cut off (``overflowed``)
    rather than letting memory grow; it reconnects and replays from the table.
    Taking everything pending at once keeps one slow wake-up from turning
    into a backlog when messages arrive faster than the loop schedules us.
    """

    def __init__(self, bus: EventBus, agent_id: int, limit: int) -> None:
        self.agent_id = agent_id
        self.overflowed = False
        self._pending: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._limit = limit
        self._bus = bus

    def wants(self, event: Event) -> bool:
        return event.agent_id is None or event.agent_id == self.agent_id

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
