"""The event bus: batches for fast producers, a clean cut-off for consumers that fall behind."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.events import CHANNEL_BROADCAST, Event, EventBus

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def event(event_id: int, agent_id: int | None) -> Event:
    return Event(event_id, "message.created", agent_id, 1, "{}", AT)


async def test_consumer_takes_everything_pending_in_one_batch():
    bus = EventBus()
    with bus.subscribe(7) as subscription:
        bus.publish([event(1, 7), event(2, 8), event(3, None)])
        bus.publish([event(4, 7)])
        assert [e.id for e in await subscription.next_batch()] == [1, 3, 4]


async def test_consumer_that_falls_behind_is_cut_off_and_unsubscribed():
    bus = EventBus(subscriber_limit=3)
    with bus.subscribe(7) as subscription:
        bus.publish([event(n, 7) for n in range(1, 5)])
        assert await subscription.next_batch() == []
        assert subscription.overflowed
        bus.publish([event(5, 7)])
        assert await subscription.next_batch() == []


async def test_a_channel_hears_only_what_is_broadcast_to_it_and_no_agent_does():
    bus = EventBus()
    told = [
        Event(1, CHANNEL_BROADCAST, None, None, '{"channel": "webchat", "data": {"n": 1}}', AT),
        Event(2, CHANNEL_BROADCAST, None, None, '{"channel": "other", "data": {"n": 2}}', AT),
        event(3, None),
    ]
    with bus.subscribe(7) as agent, bus.subscribe_channel("webchat") as channel:
        bus.publish(told)
        assert [e.id for e in await agent.next_batch()] == [3]
        assert [e.id for e in await channel.next_batch()] == [1]
