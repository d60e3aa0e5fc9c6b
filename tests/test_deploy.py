"""docker-compose.yml and deploy/Caddyfile, checked by the real tools (.ci/run installs them).

The compose file is validated by a Compose implementation without a daemon; the Caddyfile
is run by Caddy in front of a real hub, with the replicas' names swapped for its port.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from config import Settings
from hub.app import Hub
from tests.conftest import make_settings
from tests.support.processes import free_port
from tests.support.waiting import until
from tests.test_metrics import SCRAPER, with_metrics_token

CHECKOUT = Path(__file__).resolve().parent.parent
COMPOSE_SECRETS = {"POSTGRES_PASSWORD": "x", "HUB_SECRET_KEY": "y", "SMS_GATEWAY_TOKEN": "z"}


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    pytest.skip("no Compose implementation here (.ci/run installs Debian's docker-compose)")


def compose_config(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*compose_command(), "--file", "docker-compose.yml", "config"],
        cwd=CHECKOUT,
        env={"PATH": os.environ["PATH"], **environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_compose_file_is_valid_compose() -> None:
    checked = compose_config(COMPOSE_SECRETS)
    assert checked.returncode == 0, checked.stderr
    services = yaml.safe_load(checked.stdout)["services"]
    for name in ("migrate", "hub-1", "hub-2"):
        assert services[name]["environment"]["HUB_CONFIG"] == "/etc/hub/config.yaml", name
        mounts = [mount_target(volume) for volume in services[name]["volumes"]]
        assert "/etc/hub/config.yaml" in mounts, name


def mount_target(volume: str | dict[str, str]) -> str:
    """Where a volume is mounted, in Compose's short (``src:target:mode``) or long form."""
    return volume["target"] if isinstance(volume, dict) else volume.split(":")[1]


def test_the_compose_file_refuses_to_start_without_its_secrets() -> None:
    checked = compose_config({})
    assert checked.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in checked.stderr


def caddy() -> str:
    found = shutil.which("caddy")
    if found is None:
        pytest.skip("Caddy is not installed here (.ci/run installs Debian's caddy)")
    return found


def caddyfile_in_front_of(hub_port: int, proxy_port: int) -> str:
    """deploy/Caddyfile as shipped, with loopback ports for the replicas and the public port."""
    text = (CHECKOUT / "deploy" / "Caddyfile").read_text()
    for shipped, local in [
        ("{\n\tservers {", "{\n\tadmin off\n\tservers {"),
        ("hub-1:8080 hub-2:8080", f"127.0.0.1:{hub_port}"),
        (":8080 {", f":{proxy_port} {{"),
    ]:
        assert shipped in text, f"deploy/Caddyfile no longer has {shipped!r}"
        text = text.replace(shipped, local)
    return text


def test_the_shipped_caddyfile_is_valid(tmp_path: Path) -> None:
    checked = subprocess.run(
        [caddy(), "validate", "--adapter", "caddyfile", "--config", "deploy/Caddyfile"],
        cwd=CHECKOUT,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def settings(database_url: str) -> Settings:
    return with_metrics_token(make_settings(database_url))


@pytest.fixture
async def proxy(server: TestServer, tmp_path: Path) -> AsyncIterator[str]:
    proxy_port = free_port()
    config = tmp_path / "Caddyfile"
    config.write_text(caddyfile_in_front_of(server.port or 0, proxy_port))
    process = await asyncio.create_subprocess_exec(
        caddy(),
        "run",
        "--adapter",
        "caddyfile",
        "--config",
        str(config),
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{proxy_port}"
    try:
        await until(lambda: answers(f"{url}/healthz"), "Caddy passes /healthz on", seconds=30)
        yield url
    finally:
        process.terminate()
        await process.wait()


async def answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url, headers=SCRAPER) as r:
        return r.status


async def test_the_proxy_never_passes_metrics_on(hub: Hub, server: TestServer, proxy: str) -> None:
    assert await status_of(str(server.make_url("/metrics"))) == 200
    for path in ["/metrics", "/metrics/", "/metrics?x=1"]:
        assert await status_of(proxy + path) == 404, path
    assert await status_of(proxy + "/readyz") == 200
