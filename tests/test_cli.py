"""The ``hub`` command as an operator meets it: version, help, create-admin without a
terminal, and ``hub run`` on port 0."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import aiohttp
import pytest

from hub.auth import password_matches
from hub.cli import ADMIN_PASSWORD_ENV, build_parser, main
from tests.support.processes import (
    STARTUP_SECONDS,
    STOP_SECONDS,
    clean_environment,
    read_until_ready,
    write_config,
)

PASSWORD = "correct horse battery"
REST_MARKUP = re.compile(r"``|:\w+:`|`_")


def test_version_is_the_packages(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"hub {version('omnichannel-hub')}\n"


def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub)


def test_every_option_and_argument_has_help_and_no_rest_markup():
    missing, marked = [], []
    for prog, parser in parsers(build_parser()):
        for action in parser._actions:
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{prog} {action.dest}")
        if REST_MARKUP.search(parser.format_help()):
            marked.append(prog)
    assert missing == []
    assert marked == [], "reST markup in the help text"


def sqlite_config(tmp_path: Path, **http: object) -> tuple[Path, Path]:
    database = tmp_path / "hub.db"
    settings: dict[str, object] = {"database": {"url": f"sqlite:///{database}"}}
    if http:
        settings["http"] = http
    return write_config(tmp_path / "hub.yaml", settings), database


def create_admin(
    tmp_path: Path, *options: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``hub create-admin`` with a pipe for stdin, every warning an error (as under pytest)."""
    config, _ = sqlite_config(tmp_path)
    command = ["-W", "error", "-m", "hub", "create-admin", "ada@example.com", "Ada"]
    return subprocess.run(
        [sys.executable, *command, "--config", str(config), *options],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**clean_environment(), **(env or {})},
        timeout=STARTUP_SECONDS,
        check=False,
    )


def stored_admin(database: Path) -> tuple[str, str]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT role, password_hash FROM agents").fetchone()


@pytest.mark.parametrize(
    ("options", "stdin", "env"),
    [
        (("--password-stdin",), PASSWORD + "\nignored second line\n", {}),
        ((), "", {ADMIN_PASSWORD_ENV: PASSWORD}),
    ],
    ids=["stdin", "environment"],
)
def test_create_admin_takes_the_password_without_a_terminal(tmp_path, options, stdin, env):
    done = create_admin(tmp_path, *options, stdin=stdin, env=env)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == "admin ada@example.com created\n"
    role, password_hash = stored_admin(tmp_path / "hub.db")
    assert role == "admin"
    assert password_matches(password_hash, PASSWORD)


def test_create_admin_without_a_password_source_says_how_to_give_one(tmp_path):
    done = create_admin(tmp_path, stdin=PASSWORD + "\n")
    assert done.returncode == 1
    assert done.stderr == (
        "hub: no password for the new admin: pipe it in with --password-stdin, "
        f"set {ADMIN_PASSWORD_ENV}, or run create-admin on a terminal\n"
    )
    assert not (tmp_path / "hub.db").exists()


async def test_hub_run_on_port_0_prints_and_logs_the_port_it_got(tmp_path):
    config, _ = sqlite_config(tmp_path, port=0)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "hub", "run", "--config", str(config)),
        cwd=tmp_path,
        env=clean_environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output: list[str] = []
    try:
        await asyncio.wait_for(read_until_ready(process, output), STARTUP_SECONDS)
        text = "".join(output)
        [port] = re.findall(r"^Inbox:\s+http://127\.0\.0\.1:(\d+)/$", text, re.MULTILINE)
        assert port != "0", text
        assert f"listening on 127.0.0.1:{port}" in text
        url = f"http://127.0.0.1:{port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as reply:
            assert reply.status == 200
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), STOP_SECONDS) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
