"""Real ``hub run`` processes: started with a config file, read until ready, stopped or killed."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STARTUP_SECONDS = 60
STOP_SECONDS = 10
READY_LINE = "Press Ctrl+C to stop."
CHECKOUT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """The caller's environment without any HUB_* setting (HUB_TEST_DATABASE_URL included),
    with this checkout first on PYTHONPATH: the hub under test, not an installed one."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    paths = [str(CHECKOUT), *filter(None, [environ.get("PYTHONPATH")])]
    return {**environ, "PYTHONPATH": os.pathsep.join(paths)}


async def read_until_ready(process: asyncio.subprocess.Process, output: list[str]) -> None:
    assert process.stdout is not None
    while True:
        line = (await process.stdout.readline()).decode()
        if not line:
            raise AssertionError(f"hub exited with {await process.wait()} before it was ready")
        output.append(line)
        if line.strip() == READY_LINE:
            return


async def drain(process: asyncio.subprocess.Process, output: list[str]) -> None:
    assert process.stdout is not None
    while line := await process.stdout.readline():
        output.append(line.decode())


def write_config(path: Path, settings: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return path


@dataclass
class HubProcess:
    process: asyncio.subprocess.Process
    base: str
    output: list[str] = field(default_factory=list)

    def captured(self) -> str:
        return "".join(self.output)

    async def kill(self) -> None:
        """``kill -9``: no shutdown at all, as in a crash."""
        self.process.kill()
        await self.process.wait()


@asynccontextmanager
async def hub_process(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[HubProcess]:
    """``hub run <args>`` in ``workdir`` on a free loopback port; at the end SIGINT, which
    must exit 0 (unless the test killed it).

    ``env`` is added to the caller's environment without its HUB_* variables.
    """
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "run",
        "--port",
        str(port),
        *args,
        cwd=workdir,
        env={**clean_environment(), **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = HubProcess(process, f"http://127.0.0.1:{port}")
    drainer: asyncio.Task[None] | None = None
    try:
        try:
            await asyncio.wait_for(read_until_ready(process, running.output), STARTUP_SECONDS)
        except (AssertionError, TimeoutError) as error:
            reason = str(error) or f"no welcome within {STARTUP_SECONDS} s"
            raise AssertionError(f"{reason}; output:\n{running.captured()}") from None
        drainer = asyncio.create_task(drain(process, running.output))
        yield running
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                code = await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                raise AssertionError(
                    f"hub did not stop on SIGINT; output:\n{running.captured()}"
                ) from None
            await drainer
            assert code == 0, f"hub exited with {code} on SIGINT; output:\n{running.captured()}"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        if drainer is not None:
            drainer.cancel()
