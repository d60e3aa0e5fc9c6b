"""What every HTTP benchmark needs: a free port, a server process, wrk, percentiles and
a process's CPU time."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789"
"""The API channel's bearer token in every benchmark's hub."""
CUSTOMERS = 1000
"""wrk's messages come from this many customers (so do the latency phase's, another set)."""
WRK_SCRIPT = textwrap.dedent(
    """
    local counter = 0
    local thread_id = 0
    local next_id = 0
    function setup(thread)
      thread:set("tid", next_id)
      next_id = next_id + 1
    end
    function init(args)
      thread_id = tid
      prefix = args[1] or "m"
    end
    request = function()
      counter = counter + 1
      local id = prefix .. "-" .. thread_id .. "-" .. counter
      local body = '{"id":"' .. id .. '","from":{"address":"+1555' .. (counter % %(customers)d)
        .. '"},"text":"bench ' .. id .. '"}'
      return wrk.format("POST", nil, nil, body)
    end
    """
).replace("%(customers)d", str(CUSTOMERS))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def process(args: list[str], env: dict[str, str], ready_url: str) -> Iterator[subprocess.Popen]:
    """The server's output goes to a file: a pipe nobody reads would fill with its access
    log and stop the server mid-run."""
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_up(ready_url, proc, output)
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_until_up(url: str, proc: subprocess.Popen, output: IO[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output.seek(0)
            raise RuntimeError(f"server exited early:\n{output.read().decode()}")
        try:
            with socket.create_connection(url_host_port(url), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not come up")


def url_host_port(url: str) -> tuple[str, int]:
    host, port = re.match(r"https?://([^:/]+):(\d+)", url).groups()
    return host, int(port)


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    output: str = field(default="", repr=False)
    """wrk's whole output, with what a script's ``done`` printed."""


def run_wrk(
    url: str,
    seconds: int,
    headers: dict[str, str],
    prefix: str,
    lua: str = WRK_SCRIPT,
    lua_args: tuple[str, ...] = (),
    connections: int = 50,
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run(
        [*args, url, "--", prefix, *lua_args], capture_output=True, text=True, check=True
    ).stdout
    os.unlink(script.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        p50_ms=wrk_ms(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        p99_ms=wrk_ms(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        output=output,
    )


def wrk_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its threads so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
