"""The IMAP poller against a real Dovecot: once per message, in order, across restarts."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from imapclient import IMAPClient

from connectors.base import Cursor
from connectors.email.imap import (
    ImapError,
    ImapPoller,
    ImapSettings,
    MailboxCursors,
    MessageNotStored,
    OnMessage,
)
from tests.support.dovecot import DovecotMailbox, message

DEADLINE = 5.0
LOGGER = "connectors.email.imap"
CHANNEL = "mail"


class MemoryState:
    """The hub's state table in memory: what the cursors load and the inbox commits to."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def load(self, key: str) -> str | None:
        return self.values.get(key)

    def key(self, mailbox: str = "INBOX") -> str:
        return f"{CHANNEL}:imap:{mailbox}"

    def saved(self, mailbox: str = "INBOX") -> tuple[int, int]:
        """The (UIDVALIDITY, last UID) committed for ``mailbox``."""
        validity, _, last = self.values[self.key(mailbox)].partition(":")
        return int(validity), int(last)


class Inbox:
    """The on_message callback: commits each message with its cursor, as ``hub.ingest`` does;
    records (uid, raw) and can be told to fail."""

    def __init__(self, state: MemoryState) -> None:
        self.state = state
        self.received: list[tuple[int, bytes]] = []
        self.fail_on: set[str] = set()
        self.fail_times: Counter[str] = Counter()

    async def __call__(self, raw: bytes, cursor: Cursor) -> None:
        subject = subject_of(raw)
        if subject in self.fail_on or self.fail_times[subject] > 0:
            self.fail_times[subject] -= 1
            raise RuntimeError(f"database down while storing {subject}")
        self.received.append((int(cursor.value.partition(":")[2]), raw))
        self.state.values[cursor.key] = cursor.value

    @property
    def subjects(self) -> list[str]:
        return [subject_of(raw) for _, raw in self.received]


def subject_of(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.startswith(b"Subject: "):
            return line[len(b"Subject: ") :].decode()
    raise AssertionError(f"no subject in {raw!r}")


def settings_for(dovecot: DovecotMailbox, **overrides: object) -> ImapSettings:
    base = ImapSettings(
        host=dovecot.host,
        port=dovecot.port,
        username=dovecot.user,
        password=dovecot.password,
        ssl=False,
        poll_seconds=0.05,
        after_import="keep",
        timeout=5.0,
    )
    return replace(base, **overrides)


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture
def inbox(state: MemoryState) -> Inbox:
    return Inbox(state)


class Pauses:
    """The poller's sleep between tries: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        await asyncio.sleep(0)


@asynccontextmanager
async def poller(
    settings: ImapSettings, state: MemoryState, inbox: OnMessage, pauses: Pauses | None = None
) -> AsyncIterator[ImapPoller]:
    cursors = MailboxCursors(CHANNEL, state.load)
    imap = ImapPoller(CHANNEL, settings, cursors, inbox, sleep=pauses or Pauses())
    try:
        yield imap
    finally:
        await imap.close()


@asynccontextmanager
async def running(imap: ImapPoller) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(imap.run())
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def eventually(check: Callable[[], bool], seconds: float = DEADLINE) -> None:
    """Wait until ``check()`` holds, failing after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 (a condition on outside state, not an event)
            await asyncio.sleep(0.02)


async def append_all(dovecot: DovecotMailbox, *subjects: str) -> list[int]:
    return [await dovecot.append(message(subject)) for subject in subjects]


async def test_imports_appended_messages_in_uid_order(dovecot, state, inbox):
    uids = await append_all(dovecot, "first", "second", "third")
    async with poller(settings_for(dovecot), state, inbox) as imap:
        assert await imap.poll_once() == 3
        assert await imap.poll_once() == 0  # "n:*" still matches the newest: filtered out

    assert [uid for uid, _ in inbox.received] == uids
    assert inbox.subjects == ["first", "second", "third"]
    assert inbox.received[0][1].endswith(b"\r\n\r\nHello\r\n")
    assert state.saved()[1] == uids[-1]
    assert await dovecot.flags(uids[0]) == set()  # BODY.PEEK: "keep" leaves it unread


async def test_restart_resumes_from_the_saved_uid(dovecot, state, inbox):
    await append_all(dovecot, "one", "two")
    async with poller(settings_for(dovecot), state, inbox) as imap:
        assert await imap.poll_once() == 2

    async with poller(settings_for(dovecot), state, inbox) as restarted:
        assert await restarted.poll_once() == 0
        await dovecot.append(message("three"))
        assert await restarted.poll_once() == 1

    assert inbox.subjects == ["one", "two", "three"]


async def test_a_message_deleted_after_import_is_not_imported_again(dovecot, state, inbox):
    first, second = await append_all(dovecot, "one", "two")
    async with poller(settings_for(dovecot), state, inbox) as imap:
        assert await imap.poll_once() == 2
        await dovecot.delete(second)
        await dovecot.delete(first)
        assert await imap.poll_once() == 0
        await dovecot.append(message("three"))
        assert await imap.poll_once() == 1

    assert inbox.subjects == ["one", "two", "three"]


async def test_a_new_uidvalidity_imports_the_mailbox_again(dovecot, state, inbox):
    await append_all(dovecot, "one", "two")
    state.values[state.key()] = "1:99"  # a cursor from before the server renumbered the mailbox
    async with poller(settings_for(dovecot), state, inbox) as imap:
        assert await imap.poll_once() == 2
    assert inbox.subjects == ["one", "two"]
    assert state.saved()[0] != 1


async def test_seen_flags_imported_messages(dovecot, state, inbox):
    first, second = await append_all(dovecot, "one", "two")
    async with poller(settings_for(dovecot, after_import="seen"), state, inbox) as imap:
        assert await imap.poll_once() == 2
    assert await dovecot.flags(first) == {r"\Seen"}
    assert await dovecot.flags(second) == {r"\Seen"}


async def test_move_creates_the_folder_and_moves_there(dovecot, state, inbox):
    await append_all(dovecot, "one", "two")
    settings = settings_for(dovecot, after_import="move", move_to="Imported")
    async with poller(settings, state, inbox) as imap:
        assert await imap.poll_once() == 2
        await dovecot.append(message("three"))
        assert await imap.poll_once() == 1

    assert inbox.subjects == ["one", "two", "three"]
    assert await dovecot.uids() == []
    assert len(await dovecot.uids("Imported")) == 3


async def test_delete_expunges_imported_messages(dovecot, state, inbox):
    await append_all(dovecot, "one", "two")
    async with poller(settings_for(dovecot, after_import="delete"), state, inbox) as imap:
        assert await imap.poll_once() == 2
        kept = await dovecot.append(message("three"))
        inbox.fail_on.add("three")
        with pytest.raises(MessageNotStored):
            await imap.poll_once()

    assert await dovecot.uids() == [kept]  # not stored, so not deleted


async def test_a_message_not_stored_is_retried_on_the_next_pass(dovecot, state, inbox):
    first, second, third = await append_all(dovecot, "one", "two", "three")
    inbox.fail_on.add("two")
    async with poller(settings_for(dovecot, after_import="seen"), state, inbox) as imap:
        with pytest.raises(MessageNotStored) as failure:
            await imap.poll_once()
        assert failure.value.uid == second
        assert isinstance(failure.value.__cause__, RuntimeError)
        assert inbox.subjects == ["one"]
        assert state.saved()[1] == first
        assert await dovecot.flags(second) == set()

        inbox.fail_on.clear()
        assert await imap.poll_once() == 2

    assert inbox.subjects == ["one", "two", "three"]
    assert state.saved()[1] == third


async def test_run_reconnects_after_the_server_drops_the_connection(dovecot, state, inbox, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    await dovecot.append(message("before"))
    settings = settings_for(dovecot, poll_seconds=300)  # so the drop comes while idling
    async with poller(settings, state, inbox) as imap, running(imap) as task:
        await eventually(lambda: inbox.subjects == ["before"])
        await dovecot.kick()
        await eventually(lambda: "closed the connection" in caplog.text)
        await dovecot.append(message("after"))
        await eventually(lambda: inbox.subjects == ["before", "after"])
        assert not task.done()


async def test_run_retries_a_message_that_was_not_stored(dovecot, state, inbox, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    inbox.fail_times["flaky"] = 1
    await append_all(dovecot, "flaky", "next")
    async with poller(settings_for(dovecot), state, inbox) as imap, running(imap) as task:
        await eventually(lambda: inbox.subjects == ["flaky", "next"])
        assert not task.done()
    assert "was not stored: RuntimeError('database down while storing flaky')" in caplog.text


async def test_idle_delivers_a_new_message_promptly(dovecot, state, inbox):
    settings = settings_for(dovecot, poll_seconds=300)
    async with poller(settings, state, inbox) as imap, running(imap):
        await dovecot.append(message("first"))
        await eventually(lambda: inbox.subjects == ["first"], seconds=3)
        await dovecot.append(message("second"))
        await eventually(lambda: inbox.subjects == ["first", "second"], seconds=3)


async def test_mail_that_comes_during_a_pass_is_imported_at_once(dovecot, state, inbox):
    delivered: list[int] = []

    async def deliver_another_meanwhile(raw: bytes, cursor: Cursor) -> None:
        await inbox(raw, cursor)
        if not delivered:  # announced in the answer to the STORE that follows
            delivered.append(await dovecot.append(message("second")))

    await dovecot.append(message("first"))
    settings = settings_for(dovecot, poll_seconds=300, after_import="seen")
    async with poller(settings, state, deliver_another_meanwhile) as imap, running(imap):
        await eventually(lambda: inbox.subjects == ["first", "second"], seconds=3)


async def test_without_idle_it_polls_every_poll_seconds(dovecot, state, inbox, monkeypatch):
    monkeypatch.setattr(IMAPClient, "has_capability", lambda _self, name: name != "IDLE")
    async with poller(settings_for(dovecot, poll_seconds=0.1), state, inbox) as imap, running(imap):
        await dovecot.append(message("first"))
        await eventually(lambda: inbox.subjects == ["first"], seconds=3)


async def test_a_refused_login_stops_with_one_error_and_no_retry(dovecot, state, inbox, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    wrong = "not-the-password-" + dovecot.password
    settings = settings_for(dovecot, password=wrong)
    pauses = Pauses()
    async with poller(settings, state, inbox, pauses) as imap:
        await asyncio.wait_for(imap.run(), DEADLINE)  # returns: it does not retry

    assert pauses.seconds == []
    [stopped] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert stopped.levelno == logging.ERROR
    assert stopped.getMessage().startswith(f"email {CHANNEL}: IMAP {dovecot.user}@")
    assert f"login as {dovecot.user} refused: [AUTHENTICATIONFAILED]" in stopped.getMessage()
    assert stopped.getMessage().endswith("; stopped")
    assert wrong not in caplog.text
    assert dovecot.password not in caplog.text
    assert wrong not in repr(settings)


async def test_a_login_the_server_cannot_check_now_is_retried(dovecot, state, inbox, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    pauses = Pauses()
    await dovecot.server.add_alias(dovecot).append(message("waiting"))  # our login not used yet
    dovecot.break_auth()
    async with poller(settings_for(dovecot), state, inbox, pauses) as imap, running(imap) as task:
        await eventually(lambda: len(pauses.seconds) >= 2)
        dovecot.mend_auth()
        await eventually(lambda: inbox.subjects == ["waiting"])
        assert not task.done()

    assert f"login as {dovecot.user} failed for now: [UNAVAILABLE]" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_backoff_grows_while_failing_and_starts_over_after_a_good_pass(
    dovecot, state, inbox, caplog
):
    caplog.set_level(logging.INFO, logger=LOGGER)
    inbox.fail_times["flaky"] = 2
    await dovecot.append(message("flaky"))
    pauses = Pauses()
    settings = settings_for(dovecot, poll_seconds=300)
    async with poller(settings, state, inbox, pauses) as imap, running(imap):
        await eventually(lambda: inbox.subjects == ["flaky"])
        await dovecot.kick()
        await eventually(lambda: len(pauses.seconds) == 3)
        await dovecot.append(message("after"))
        await eventually(lambda: inbox.subjects == ["flaky", "after"])

    first, second, after_the_good_pass = pauses.seconds
    assert 0.5 <= first <= 1.0 <= second <= 2.0  # two failures in a row: the wait grows
    assert 0.5 <= after_the_good_pass <= 1.0  # a good pass in between: it starts over


async def test_stopping_while_idle_lets_go_of_the_thread_and_the_connection(
    dovecot, state, inbox, monkeypatch
):
    monkeypatch.setattr("connectors.email.imap.IDLE_SLICE", 60.0)  # so only hanging up wakes it
    settings = settings_for(dovecot, poll_seconds=300)
    async with poller(settings, state, inbox) as imap:
        task = asyncio.create_task(imap.run())
        await dovecot.append(message("first"))
        await eventually(lambda: inbox.subjects == ["first"])
        await asyncio.sleep(0.2)  # by now it idles, on the thread, for up to a minute
        task.cancel()
        async with asyncio.timeout(2.0):
            with pytest.raises(asyncio.CancelledError):
                await task
        await eventually(lambda: not imap_threads())


def imap_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("imap")]


async def test_tls_against_a_plain_port_fails_cleanly(dovecot, state, inbox):
    async with poller(settings_for(dovecot, ssl=True, timeout=2.0), state, inbox) as imap:
        with pytest.raises(ImapError, match="connect failed"):
            await imap.poll_once()
    assert inbox.received == []


def test_settings_are_checked():
    with pytest.raises(ValueError, match="move_to"):
        ImapSettings("h", 1, "u", "p", after_import="move")
    with pytest.raises(ValueError, match="CR"):
        ImapSettings("h", 1, "u", "p", mailbox="INBOX\r\nA1 DELETE INBOX")
