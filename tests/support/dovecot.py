"""A real Dovecot IMAP server (Debian's dovecot-imapd) for the email tests.

One server per test session, in a temp dir with a config of its own, run
unprivileged: as root its processes run as a dedicated system user. Every
test gets a user of its own (so a mailbox of its own) from the ``dovecot``
fixture. The test-side helpers use the standard library's imaplib directly,
in a thread: not imapclient, and none of the poller's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SERVICE_USER = "hubtest"
"""The system user Dovecot's processes run as when the tests run as root."""

START_SECONDS = 10.0


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (
            path
            for path in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
            if os.access(path, os.X_OK)
        ),
        None,
    )


def unavailable(reason: str) -> None:
    """In CI a missing or broken Dovecot is a failure, elsewhere a skip."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def service_account() -> pwd.struct_passwd:
    """Who Dovecot runs as: the current user, or as root a dedicated system user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    command = ["useradd", "--system", "--user-group", "--no-create-home"]
    command += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER]
    created = subprocess.run(command, capture_output=True, text=True, check=False)
    if created.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
        raise RuntimeError(f"useradd {SERVICE_USER} failed: {created.stderr.strip()}")
    return pwd.getpwnam(SERVICE_USER)


def dovecot_version(binary: str) -> tuple[int, int]:
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    match = re.match(r"(\d+)\.(\d+)", output.stdout)
    if not match:
        raise RuntimeError(f"unexpected `dovecot --version`: {output.stdout!r}")
    return int(match[1]), int(match[2])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


COMMON = """\
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {account}
default_login_user = {account}
first_valid_uid = {uid}
first_valid_gid = {gid}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""

CONFIG_2_3 = """\
protocols = imap
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
"""

# Written from the 2.4 documentation; Debian 12 ships 2.3, so this one is untested.
CONFIG_2_4 = """\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols = imap
auth_allow_cleartext = yes
mail_driver = maildir
mail_path = ~/Maildir
passdb passwd-file {{
  passwd_file_path = {root}/users/%{{user}}
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {root}/home/%{{user}}
  }}
}}
"""


def render_config(version: tuple[int, int], **values: object) -> str:
    specific = CONFIG_2_4 if version >= (2, 4) else CONFIG_2_3
    # The version line must come first in 2.4, so the specific part leads.
    return specific.format(**values) + COMMON.format(**values)


class DovecotServer:
    """One running Dovecot; :meth:`add_user` hands out isolated mailboxes."""

    def __init__(self) -> None:
        binary = dovecot_binary()
        if binary is None:
            unavailable("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
        assert binary is not None
        self.binary = binary
        self.doveadm = shutil.which("doveadm") or str(Path(binary).with_name("doveadm"))
        self.version = dovecot_version(binary)
        self.account = service_account()
        self.root = Path(tempfile.mkdtemp(prefix="hub-dovecot-"))
        self.config = self.root / "dovecot.conf"
        self.host = "127.0.0.1"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    def start(self) -> None:
        for sub in ("run", "state", "home", "users"):
            (self.root / sub).mkdir()
        values = {
            "root": self.root,
            "port": self.port,
            "account": self.account.pw_name,
            "uid": self.account.pw_uid,
            "gid": self.account.pw_gid,
        }
        self.config.write_text(render_config(self.version, **values))
        self.root.chmod(0o755)
        for path in (self.root, *self.root.iterdir()):
            os.chown(path, self.account.pw_uid, self.account.pw_gid)
        with (self.root / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        self._wait_for_greeting()

    def _wait_for_greeting(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited at start: {self.diagnostics()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=1) as probe,
            ):
                if probe.recv(200).startswith(b"* OK"):
                    return
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not greet on port {self.port}: {self.diagnostics()}")

    def diagnostics(self) -> str:
        """The end of what Dovecot wrote before it had its log, and of its log."""
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-2000:].strip())
        return " | ".join(part for part in parts if part)

    def stop(self) -> None:
        if self.process is not None:
            # doveadm waits until the master's pid is gone: reap it meanwhile, or it waits
            # for a zombie until its own timeout.
            stopping = subprocess.Popen(
                [self.doveadm, "-c", str(self.config), "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            stopping.wait()
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def add_user(self) -> DovecotMailbox:
        """A fresh user with a passwd-file of its own.

        One file per user: Dovecot looks at a changed passwd-file at most once
        a second, so users appended to a shared file could not log in at once.
        """
        user = f"user{next(self._names)}"
        password = secrets.token_urlsafe(12)
        passwd = self.root / "users" / user
        passwd.write_text(f"{user}:{{PLAIN}}{password}\n")
        passwd.chmod(0o600)
        os.chown(passwd, self.account.pw_uid, self.account.pw_gid)
        return DovecotMailbox(self, user, password)

    def add_alias(self, mailbox: DovecotMailbox) -> DovecotMailbox:
        """A fresh user whose home is ``mailbox``'s: the same messages under another login.

        So a test can tell from :meth:`logins` which of two clients of one
        mailbox logged in.
        """
        home = self.root / "home" / mailbox.user
        if not home.exists():
            home.mkdir(mode=0o700)
            os.chown(home, self.account.pw_uid, self.account.pw_gid)
        alias = self.add_user()
        (self.root / "home" / alias.user).symlink_to(home)
        return alias

    def logins(self, *users: str) -> list[str]:
        """Who logged in over IMAP so far, in order: each login of one of ``users`` by name."""
        log = self.root / "dovecot.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        names = re.findall(r"imap-login: Info: Login: user=<([^>]*)>", text)
        return [name for name in names if name in users]

    def kick(self, user: str) -> None:
        """Drop every IMAP connection of ``user`` (the server keeps running)."""
        kicked = subprocess.run(
            [self.doveadm, "-c", str(self.config), "kick", user], capture_output=True, text=True
        )
        if kicked.returncode not in (0, 68):  # 68: the user had no connection
            raise RuntimeError(f"doveadm kick {user} failed: {kicked.stdout}{kicked.stderr}")


@dataclass
class DovecotMailbox:
    """One user's view of the server, with helpers that play the mail's sender."""

    server: DovecotServer
    user: str
    password: str

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @contextlib.contextmanager
    def _session(self, mailbox: str = "INBOX") -> Iterator[imaplib.IMAP4]:
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(self.user, self.password)
            check(imap.select(quote(mailbox)))
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def _append(self, raw: bytes, mailbox: str) -> int:
        with self._session(mailbox) as imap:
            reply = check(imap.append(quote(mailbox), None, None, raw))
            match = re.search(rb"APPENDUID \d+ (\d+)", reply[0])
            assert match, reply
            return int(match[1])

    def _uids(self, mailbox: str) -> list[int]:
        with self._session(mailbox) as imap:
            found = check(imap.uid("SEARCH", "ALL"))
            return [int(uid) for uid in found[0].split()]

    def _uidvalidity(self, mailbox: str) -> int:
        with self._session(mailbox) as imap:
            _, [validity] = imap.response("UIDVALIDITY")
            return int(validity)

    def _flags(self, uid: int, mailbox: str) -> set[str]:
        with self._session(mailbox) as imap:
            found = check(imap.uid("FETCH", str(uid), "(FLAGS)"))
            match = re.search(rb"FLAGS \(([^)]*)\)", found[0] or b"")
            assert match, f"no message with UID {uid} in {mailbox}"
            return set(match[1].decode().split())

    def _delete(self, uid: int, mailbox: str) -> None:
        with self._session(mailbox) as imap:
            check(imap.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)"))
            check(imap.expunge())

    def _create(self, mailbox: str) -> None:
        with self._session() as imap:
            check(imap.create(quote(mailbox)))

    async def append(self, raw: bytes, mailbox: str = "INBOX") -> int:
        """APPEND ``raw`` (given with LF or CRLF, sent with CRLF); the new message's UID."""
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        return await asyncio.to_thread(self._append, crlf, mailbox)

    async def uids(self, mailbox: str = "INBOX") -> list[int]:
        return await asyncio.to_thread(self._uids, mailbox)

    async def uidvalidity(self, mailbox: str = "INBOX") -> int:
        return await asyncio.to_thread(self._uidvalidity, mailbox)

    async def flags(self, uid: int, mailbox: str = "INBOX") -> set[str]:
        return await asyncio.to_thread(self._flags, uid, mailbox)

    async def delete(self, uid: int, mailbox: str = "INBOX") -> None:
        """Flag \\Deleted and expunge, as a mail client would."""
        await asyncio.to_thread(self._delete, uid, mailbox)

    async def create_mailbox(self, mailbox: str) -> None:
        await asyncio.to_thread(self._create, mailbox)

    def break_auth(self) -> None:
        """Dovecot can no longer read this user's passwords: it answers a login
        ``NO [UNAVAILABLE]``, as when its user database is down."""
        self._passwd_mode(0)

    def mend_auth(self) -> None:
        self._passwd_mode(0o600)

    def _passwd_mode(self, mode: int) -> None:
        """Set the passwd-file's mode and a new mtime, so Dovecot reads it again."""
        passwd = self.server.root / "users" / self.user
        passwd.chmod(mode)
        touched = passwd.stat().st_mtime + 1
        os.utime(passwd, (touched, touched))

    async def kick(self) -> None:
        """Drop all of this user's connections, as a server restart would."""
        await asyncio.to_thread(self.server.kick, self.user)


def check(reply: tuple[str, list]) -> list:
    status, data = reply
    assert status == "OK", reply
    return data


def quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def message(subject: str, body: str = "Hello", sender: str = "ann@example.com") -> bytes:
    """A small RFC 822 message with a unique Message-ID."""
    return (
        f"From: Ann <{sender}>\r\n"
        f"To: support@example.com\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@example.com>\r\n"
        f"Date: Mon, 03 Jun 2024 10:00:00 +0000\r\n"
        f"\r\n"
        f"{body}\r\n"
    ).encode()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    server: DovecotServer | None = None
    try:
        server = DovecotServer()
        server.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        if server is not None:
            server.stop()
        unavailable(f"dovecot could not be started: {error}")
    assert server is not None
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> DovecotMailbox:
    """A running Dovecot and a user with an empty INBOX of its own."""
    return dovecot_server.add_user()


def email_channel(mailbox: DovecotMailbox, relay_port: int, poll_seconds: float) -> dict[str, Any]:
    """The email channel ``mail`` reading ``mailbox`` (password in IMAP_PASSWORD).

    IDLE wakes the worker; a message landing during a fetch pass waits for the
    next renewal (``poll_seconds``), so tests keep it short.
    """
    return {
        "kind": "email",
        "name": "mail",
        "address": "support@shop.example",
        "imap": {
            "host": mailbox.host,
            "port": mailbox.port,
            "ssl": False,
            "username": mailbox.user,
            "password_env": "IMAP_PASSWORD",
            "poll_seconds": poll_seconds,
        },
        "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
    }
