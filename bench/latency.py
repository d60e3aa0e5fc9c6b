"""Latency at a fixed rate: each message timed from its request to the agent's WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

import aiohttp

from bench.load import CUSTOMERS, TOKEN, percentile


async def until_ready(socket_: aiohttp.ClientWebSocketResponse) -> None:
    """Wait for the socket's ``ready``: what commits before it, the socket does not send."""
    while (await socket_.receive_json()).get("kind") != "ready":
        pass


def events_in(frame: str) -> list[dict]:
    """The inbox socket's frames are arrays of events, or one control object."""
    data = json.loads(frame)
    return data if isinstance(data, list) else [data]


@dataclass(frozen=True)
class Sample:
    """One message's time from request to the agent's WebSocket."""

    sent_after: float
    """Seconds after the first request of the run."""
    first_contact: bool
    """The customer's first message (a new customer, identity, conversation, owner)."""
    ms: float


def latency_rows(rate: int, samples: list[Sample]) -> list[str]:
    """p50 / p99 over the whole run, after its first second, and split by first contact."""
    parts = {
        "whole run": samples,
        "after the first second": [s for s in samples if s.sent_after >= 1.0],
        "first contacts only": [s for s in samples if s.first_contact],
        "returning customers only": [s for s in samples if not s.first_contact],
    }
    rows = []
    for label, part in parts.items():
        if not part:
            continue
        ms = [s.ms for s in part]
        rows.append(
            f"| request to agent WebSocket at {rate} msg/s, {label} ({len(ms):,}), p50 / p99 (ms)"
            f" | | {percentile(ms, 0.5):.1f} / {percentile(ms, 0.99):.1f} | |"
        )
    return rows


async def fixed_rate_latency(
    hub_url: str, rate: int, seconds: int, agent_token: str
) -> tuple[list[Sample], int]:
    """Send ``rate`` messages a second; time each from send to the agent's WebSocket.

    The first ``CUSTOMERS`` messages are each a new customer's first contact.
    """
    sent: dict[str, tuple[float, int]] = {}
    latencies: list[Sample] = []
    start = 0.0
    total = rate * seconds
    done = asyncio.Event()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session,
        session.ws_connect(
            f"{hub_url}/api/events", headers={"Authorization": f"Bearer {agent_token}"}
        ) as socket_,
    ):

        async def receive() -> None:
            async for frame in socket_:
                for event in events_in(frame.data):
                    if event.get("kind") != "message.created":
                        continue
                    text = event["data"]["message"]["text"]
                    found = sent.pop(text.removeprefix("bench "), None)
                    if found is not None:
                        started, number = found
                        ms = (time.perf_counter() - started) * 1000
                        latencies.append(Sample(started - start, number < CUSTOMERS, ms))
                        if len(latencies) == total:
                            done.set()

        async def post(message_id: str, number: int) -> None:
            body = {
                "id": message_id,
                "from": {"address": f"+1666{number % CUSTOMERS}"},
                "text": f"bench {message_id}",
            }
            sent[message_id] = (time.perf_counter(), number)
            async with session.post(
                f"{hub_url}/channels/sms/messages", json=body, headers=headers
            ) as response:
                if response.status != 202:
                    raise RuntimeError(f"hub answered {response.status}: {await response.text()}")

        await until_ready(socket_)
        receiver = asyncio.create_task(receive())
        start = time.perf_counter()
        posts = []
        for number in range(total):
            delay = start + number / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            posts.append(asyncio.create_task(post(f"lat-{number}", number)))
        await asyncio.gather(*posts)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 30)
        receiver.cancel()
    return latencies, total - len(latencies)
