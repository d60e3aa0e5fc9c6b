"""The ``hub`` command: run, migrate, check-config, create-admin."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import logging
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial

from config import ConfigError, Settings, load_settings
from config.schema import HttpSettings
from hub.app import Hub, StartFailed
from hub.auth import hash_password
from hub.db.migrate import migrate
from hub.demo import DEMO_LOGINS, seed_demo
from hub.demo_accounts import demo_passwords_in_use, is_loopback_url
from hub.errors import HubError
from hub.listener import Listener
from hub.logs import configure_logging
from hub.package import package_summary, package_version
from hub.team import create_agent

GC_YOUNG_THRESHOLD = 50_000

log = logging.getLogger("hub")


ADMIN_PASSWORD_ENV = "HUB_ADMIN_PASSWORD"
CONFIG_HELP = "YAML settings file (default: built-in settings, SQLite file hub.db here)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()
    if args.command == "check-config":
        return check_config(args.file)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"hub: refusing to start, the configuration has problems:\n{error}", file=sys.stderr)
        return 2
    configure_logging(settings)
    if args.command == "migrate":
        return asyncio.run(run_migrations(settings))
    if args.command == "create-admin":
        password = admin_password(args.password_stdin)
        if password is None:
            print(f"hub: {NO_PASSWORD}", file=sys.stderr)
            return 1
        return asyncio.run(create_admin(settings, args.email, args.name, password))
    return asyncio.run(serve(settings, demo=args.demo, host=args.host, port=args.port))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description=package_summary())
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="command", help="what to do"
    )
    run = commands.add_parser("run", help="serve the hub (migrates the database first)")
    run.add_argument("--config", help=CONFIG_HELP)
    run.add_argument("--demo", action="store_true", help="add demo agents and customers")
    run.add_argument("--host", help="address to listen on (overrides http.host)")
    run.add_argument("--port", type=int, help="port to listen on, 0 for any free one")
    migrate_cmd = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate_cmd.add_argument("--config", help=CONFIG_HELP)
    check = commands.add_parser("check-config", help="report every problem in a settings file")
    check.add_argument("file", help="the YAML settings file to check")
    admin = commands.add_parser("create-admin", help="create an admin account")
    admin.add_argument("email", help="the admin's sign-in address")
    admin.add_argument("name", help="the admin's name as the team sees it")
    admin.add_argument("--config", help=CONFIG_HELP)
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password from the first line of standard input "
        f"(else from {ADMIN_PASSWORD_ENV}, else asked on the terminal)",
    )
    return parser


def check_config(file: str) -> int:
    try:
        settings = load_settings(file)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    names = ", ".join(f"{c.name} ({c.kind})" for c in settings.channels) or "none"
    print(f"{file}: OK; channels: {names}")
    return 0


async def run_migrations(settings: Settings) -> int:
    hub = Hub(settings)
    try:
        await migrate(hub.db)
    finally:
        await hub.db.close()
    print("database schema is up to date")
    return 0


NO_PASSWORD = (
    f"no password for the new admin: pipe it in with --password-stdin, set {ADMIN_PASSWORD_ENV}, "
    "or run create-admin on a terminal"
)


def admin_password(from_stdin: bool) -> str | None:
    """The new admin's password: piped in, from the environment, or typed on a terminal.

    ``getpass`` is asked only on a terminal: without one it warns and echoes.
    """
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if from_environment := os.environ.get(ADMIN_PASSWORD_ENV):
        return from_environment
    if sys.stdin.isatty():
        return getpass.getpass("password for the new admin (8 characters or more): ")
    return None


async def create_admin(settings: Settings, email: str, name: str, password: str) -> int:
    if len(password) < 8:
        print("hub: the password must have 8 characters or more", file=sys.stderr)
        return 1
    hub = Hub(settings)
    try:
        await migrate(hub.db)
        await hub.db.write(
            partial(create_agent, None, email, name, hash_password(password), "admin")
        )
    except HubError as error:
        print(f"hub: {error.message}", file=sys.stderr)
        return 1
    finally:
        await hub.db.close()
    print(f"admin {email} created")
    return 0


async def serve(settings: Settings, *, demo: bool, host: str | None, port: int | None) -> int:
    """Take the port, start the hub, serve until a signal; a problem is one line on stderr.

    The port comes first, so a busy one is reported before any channel has
    talked to its platform (a Telegram poller would have removed the webhook),
    and the hub is built knowing the real port when ``port`` is 0.
    """
    http = settings.http.model_copy(
        update={k: v for k, v in (("host", host), ("port", port)) if v is not None}
    )
    listener = await take_port(http)
    if listener is None:
        return 1
    http = http.model_copy(update={"port": listener.port})
    hub: Hub | None = None
    try:
        hub = Hub(settings.model_copy(update={"http": http}))
        return await run_hub(hub, listener, demo)
    finally:
        await listener.stop()
        if hub is not None:
            await hub.stop()


async def take_port(http: HttpSettings) -> Listener | None:
    """The listener on its port, or ``None`` having said in one line why the port is not ours."""
    listener = Listener(http.host, http.port)
    try:
        await listener.bind()
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        print(f"hub: cannot listen on {http.host}:{http.port}: {reason}", file=sys.stderr)
        return None
    return listener


async def run_hub(hub: Hub, listener: Listener, demo: bool) -> int:
    try:
        await hub.start()
    except StartFailed as error:
        print(f"hub: refusing to start: {error}", file=sys.stderr)
        return 1
    seeded = demo and await seed_demo(hub)
    if not seeded:
        await warn_about_demo_passwords(hub)
    await listener.serve(hub)
    log.info("listening on %s:%d", listener.host, listener.port)
    stop = stop_on_signal()
    print_welcome(hub.settings, demo, seeded)
    settle_garbage_collector()
    await stop.wait()
    return 0


async def warn_about_demo_passwords(hub: Hub) -> None:
    """Demo data seeded once keeps its published passwords until someone changes them."""
    emails = await hub.db.read(demo_passwords_in_use)
    if not emails:
        return
    public = not is_loopback_url(hub.public_url)
    refused = " (refused while the public URL is not loopback)" if public else ""
    log.warning(
        "this database was seeded with --demo and these accounts still take their published "
        "demo passwords%s: %s. Give them new passwords or deactivate them in the admin console.",
        refused,
        ", ".join(emails),
    )


def settle_garbage_collector() -> None:
    """Keep start-up objects out of later collections, and collect young objects less often.

    Per-message work allocates many short-lived objects; with the default
    thresholds the collector runs every few messages.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def print_welcome(settings: Settings, demo: bool, seeded: bool) -> None:
    base = settings.http.base_url
    print(f"\nInbox:  {base}/", flush=True)
    print(f"Admin console (admins): {base}/admin")
    for channel in settings.channels:
        if channel.kind == "webchat":
            print(f"Web chat demo page ({channel.name}): {base}/webchat/{channel.name}/demo")
    print(f"API:    {base}/api/openapi.json")
    if seeded:
        print("Demo logins:")
        for email, password, role in DEMO_LOGINS:
            print(f"  {role:<6} {email:<22} password: {password}")
    elif demo:
        print("Demo data: not added, this database already has accounts.")
    print("Press Ctrl+C to stop.", flush=True)


def stop_on_signal() -> asyncio.Event:
    """An event set by Ctrl+C or SIGTERM; installed before the welcome says how to stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
