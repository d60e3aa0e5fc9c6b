"""The channel contract's lifecycle as the hub drives it: start, listen meanwhile, stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from config import Settings
from connectors.base import Connector, Delivery, OutboundMessage
from hub.app import Hub
from tests.support.clock import FakeClock


class RecordingChannel(Connector):
    """A channel of the tests' own: records what the hub asks of it, in order."""

    kind = "recording"

    def __init__(self, name: str, hub: Hub, crash: bool = False) -> None:
        super().__init__(name, hub)
        self.calls: list[str] = []
        self.crash = crash

    @property
    def identity_kind(self) -> str:
        return "recording"

    async def start(self) -> None:
        self.calls.append("start")

    async def listen(self) -> None:
        self.calls.append("listen")
        if self.crash:
            raise RuntimeError("the platform sent something this channel cannot read")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.calls.append("listen cancelled")
            raise

    async def stop(self) -> None:
        self.calls.append("stop")

    async def send(self, message: OutboundMessage) -> Delivery:
        return Delivery()

    async def test_connection(self) -> str:
        return "ready"


def hub_with(settings: Settings, *, crash: bool = False) -> Hub:
    """A hub whose channels include a :class:`RecordingChannel` named ``recorded``."""
    hub = Hub(settings, FakeClock())
    channel = RecordingChannel("recorded", hub, crash)
    hub.all_connectors["recorded"] = channel
    hub.connectors["recorded"] = channel
    return hub


async def test_the_hub_listens_after_start_and_stops_listening_before_stop(
    settings: Settings,
) -> None:
    hub = hub_with(settings)
    channel = hub.all_connectors["recorded"]
    await hub.start(run_workers=False)
    try:
        await asyncio.sleep(0)
        assert channel.calls == ["start", "listen"]
    finally:
        await hub.stop()
    assert channel.calls == ["start", "listen", "listen cancelled", "stop"]


async def test_a_listener_that_crashes_is_logged_once_and_shown_halted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    hub = hub_with(settings, crash=True)
    channel = hub.all_connectors["recorded"]
    with caplog.at_level(logging.INFO):
        await hub.start(run_workers=False)
        try:
            for _ in range(10):
                await asyncio.sleep(0)
            assert channel.halted is not None
            assert channel.halted.reason == "stopped receiving: unexpected RuntimeError"
        finally:
            await hub.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "channel recorded stopped receiving: unexpected RuntimeError"
    ]
