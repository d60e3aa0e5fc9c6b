"""Starting and stopping channels: a failed start leaves nothing running, ``hub run`` says why
in one line (a busy port before any channel talked to its platform)."""

from __future__ import annotations

import asyncio
import random
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from connectors.base import AuthFailed
from connectors.retry import Backoff
from hub.app import Hub, StartFailed
from hub.leader import Leadership
from tests.support.processes import STARTUP_SECONDS, clean_environment, free_port, write_config
from tests.support.slack_api import Scripted, SlackApi
from tests.support.telegram_api import FakeBotApi

TAKEOVER_SECONDS = 5.0
TG_TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs"
ENVIRON = {
    "TG_TOKEN": TG_TOKEN,
    "SLACK_BOT_TOKEN": "xoxb-17-test-token",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99e1f2c3d4a5",
    "SLACK_APP_TOKEN": "xapp-1-test",
}


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TG_TOKEN) as api:
        yield api


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        yield api


def channels(bot_api: FakeBotApi, slack_api: SlackApi) -> list[dict[str, Any]]:
    """A Telegram poller, then a Slack app in Socket Mode (started in this order)."""
    return [
        {
            "kind": "telegram",
            "name": "tg",
            "token_env": "TG_TOKEN",
            "mode": "polling",
            "base_url": bot_api.base_url,
            "poll_seconds": 1,
        },
        {
            "kind": "slack",
            "name": "slack",
            "mode": "socket",
            "bot_token_env": "SLACK_BOT_TOKEN",
            "signing_secret_env": "SLACK_SIGNING_SECRET",
            "app_token_env": "SLACK_APP_TOKEN",
            "base_url": slack_api.base_url,
        },
    ]


def refuse_the_app_token(slack_api: SlackApi) -> None:
    slack_api.script("apps.connections.open", Scripted(200, {"ok": False, "error": "invalid_auth"}))


async def test_a_failed_start_stops_the_channels_it_had_started(
    database_url, clock, bot_api, slack_api
):
    refuse_the_app_token(slack_api)
    settings = Settings.model_validate(
        {"database": {"url": database_url}, "channels": channels(bot_api, slack_api)},
        context={"environ": ENVIRON},
    )
    hub = Hub(settings, clock)
    try:
        with pytest.raises((StartFailed, AuthFailed)) as failed:
            await hub.start(run_workers=False)
        await asyncio.sleep(1.5)  # a poller left running asks for updates at once
    finally:
        await hub.stop()
    assert bot_api.called("getUpdates") == []
    assert str(failed.value) == (
        "channel slack did not start: slack apps.connections.open: invalid_auth"
    )


async def hub_run(workdir: Path, config: Path, port: int) -> tuple[int, str]:
    """``hub run`` that is expected to stop by itself: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "run",
        "--config",
        str(config),
        "--port",
        str(port),
        cwd=workdir,
        env={**clean_environment(), **ENVIRON},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), STARTUP_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode()


def config_file(tmp_path: Path, bot_api: FakeBotApi, slack_api: SlackApi) -> Path:
    settings = {
        "database": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "channels": channels(bot_api, slack_api),
    }
    return write_config(tmp_path / "hub.yaml", settings)


async def test_hub_run_on_a_busy_port_says_so_in_one_line_before_touching_a_platform(
    tmp_path, bot_api, slack_api
):
    config = config_file(tmp_path, bot_api, slack_api)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = await hub_run(tmp_path, config, port)
    assert code == 1, output
    assert f"hub: cannot listen on 127.0.0.1:{port}: Address already in use\n" in output
    assert "Traceback" not in output, output
    assert bot_api.calls == [], "no deleteWebhook (or anything) before the port was ours"
    assert slack_api.calls == []


async def test_hub_run_whose_channel_does_not_start_says_so_in_one_line(
    tmp_path, bot_api, slack_api
):
    refuse_the_app_token(slack_api)
    code, output = await hub_run(tmp_path, config_file(tmp_path, bot_api, slack_api), free_port())
    assert code == 1, output
    assert (
        "hub: refusing to start: channel slack did not start: "
        "slack apps.connections.open: invalid_auth\n"
    ) in output
    assert "Traceback" not in output, output


# the leader's lock


class Enough(Exception):
    """Raised by the injected sleep to end a loop that would go on for ever."""


async def test_a_leader_that_cannot_reach_postgresql_waits_longer_each_time():
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 5:
            raise Enough

    async def work() -> None:
        pytest.fail("the work ran without its lock")

    unreachable = f"postgresql://hub@127.0.0.1:{free_port()}/hub"
    leadership = Leadership(
        unreachable, TAKEOVER_SECONDS, backoff=Backoff(rng=random.Random(3)), sleep=sleep
    )
    with pytest.raises(Enough):
        await leadership.run_alone("telegram:tg", work)
    for wait, ceiling in zip(waits, [1, 2, 4, 8, 16], strict=True):
        assert ceiling / 2 <= wait <= ceiling
