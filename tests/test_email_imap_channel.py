"""The email channel reading a real Dovecot mailbox: import, threads, restarts, the corpus."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from config import Settings
from hub.app import Hub
from hub.db.schema import messages, quarantine
from tests.conftest import ENVIRON
from tests.support.clock import FakeClock
from tests.support.corpus import corpus_files
from tests.support.dovecot import DovecotMailbox, email_channel, message
from tests.support.hubs import Browser, add_agent
from tests.support.smtp import SmtpPeer

DEADLINE = 30
TUESDAY = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
CUSTOMER = "lena@example.org"


def imap_settings(database_url: str, mailbox: DovecotMailbox, relay_port: int) -> Settings:
    data = {
        "database": {"url": database_url},
        "channels": [email_channel(mailbox, relay_port, poll_seconds=2)],
    }
    environ = {**ENVIRON, "IMAP_PASSWORD": mailbox.password}
    return Settings.model_validate(data, context={"environ": environ})


@asynccontextmanager
async def running_hub(database_url: str, mailbox: DovecotMailbox, relay: SmtpPeer):
    """A hub whose email channel reads ``mailbox`` (IDLE), stopped on leaving."""
    hub = Hub(imap_settings(database_url, mailbox, relay.port), FakeClock(TUESDAY))
    await hub.start(run_workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


async def count(hub: Hub, table) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
    )


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait for the IMAP worker (IDLE) to get there, with a deadline instead of a sleep."""
    async with asyncio.timeout(DEADLINE):
        while not await check():  # noqa: ASYNC110 - the database is what we observe
            await asyncio.sleep(0.05)


async def stored_texts(hub: Hub) -> list[tuple[str, int]]:
    rows = await hub.db.read(
        lambda conn: conn.execute(
            select(messages.c.text, messages.c.conversation_id)
            .where(messages.c.direction == "in")
            .order_by(messages.c.id)
        ).all()
    )
    return [(row.text, row.conversation_id) for row in rows]


async def test_import_resumes_after_a_restart_without_duplicates_or_deleted_mail(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    async with running_hub(database_url, dovecot, relay) as hub:
        await add_agent(hub, "maria@example.com")
        first = await dovecot.append(message("Order 77", "Where is order 77?", CUSTOMER))
        await until(lambda: stored_count(hub, 1))
    await dovecot.delete(first)
    await dovecot.append(message("Re: Order 77", "Any news?", CUSTOMER))
    async with running_hub(database_url, dovecot, relay) as hub:
        await until(lambda: stored_count(hub, 2))
        texts = await stored_texts(hub)
    assert [text for text, _ in texts] == ["Where is order 77?", "Any news?"]
    assert len({conversation for _, conversation in texts}) == 1


async def test_another_mail_with_a_stored_message_id_is_imported_apart(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    """The IMAP import shares the SMTP path's ingest: a reused Message-ID with other words
    is stored apart, a copy of a stored mail stays a repeat."""
    first = message("Order 77", "Where is order 77?", CUSTOMER)
    message_id = first.split(b"Message-ID: ")[1].split(b"\r\n")[0]
    second = message("Order 78", "And order 78?", CUSTOMER)
    second = second.replace(second.split(b"Message-ID: ")[1].split(b"\r\n")[0], message_id)
    for raw in (first, second, first, second):
        await dovecot.append(raw)
    async with running_hub(database_url, dovecot, relay) as hub:
        await add_agent(hub, "maria@example.com")
        await until(lambda: stored_count(hub, 2))
        await until(lambda: imported_all(hub, dovecot))
        texts = await stored_texts(hub)
    assert [text for text, _ in texts] == ["Where is order 77?", "And order 78?"]


async def imported_all(hub: Hub, mailbox: DovecotMailbox) -> bool:
    """The cursor has passed the mailbox's last message."""
    last = max(await mailbox.uids())
    saved = await hub.load_state("mail:imap:INBOX")
    return saved is not None and saved.endswith(f":{last}")


async def stored_count(hub: Hub, expected: int) -> bool:
    return len(await stored_texts(hub)) >= expected


async def test_reply_by_imap_threads_into_the_resolved_conversation(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    async with (
        running_hub(database_url, dovecot, relay) as mail_hub,
        TestServer(mail_hub.web_app(), host="127.0.0.1") as server,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session,
    ):
        await add_agent(mail_hub, "maria@example.com")
        await dovecot.append(message("Order 77", "Where is order 77?", CUSTOMER))
        await until(lambda: stored_count(mail_hub, 1))
        ((_, conversation_id),) = await stored_texts(mail_hub)
        maria = await Browser(server, session).login("maria@example.com")
        await maria.post(
            f"/api/conversations/{conversation_id}/replies", {"text": "On its way"}, expect=202
        )
        await mail_hub.outbox.run_due()
        await maria.post(f"/api/conversations/{conversation_id}/resolve", expect=200)
        ours = relay.received[0].message["Message-ID"]
        answer = message("Re: Order 77", "Thanks!", CUSTOMER).replace(
            b"\r\n\r\n", f"\r\nIn-Reply-To: {ours}\r\n\r\n".encode(), 1
        )
        await dovecot.append(answer)
        await until(lambda: stored_count(mail_hub, 2))
        assert await stored_texts(mail_hub) == [
            ("Where is order 77?", conversation_id),
            ("Thanks!", conversation_id),
        ]


async def test_a_dropped_connection_recovers(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    async with running_hub(database_url, dovecot, relay) as hub:
        await add_agent(hub, "maria@example.com")
        await dovecot.append(message("One", "first", CUSTOMER))
        await until(lambda: stored_count(hub, 1))
        await dovecot.kick()
        await dovecot.append(message("Two", "second", CUSTOMER))
        await until(lambda: stored_count(hub, 2))


async def test_a_cursor_saved_before_this_version_is_resumed_from(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    async with running_hub(database_url, dovecot, relay) as hub:
        await add_agent(hub, "maria@example.com")
        validity = await dovecot.uidvalidity()
        await hub.save_state("mail:imap:INBOX", f"{validity}:2")  # as it was always kept
        for number in (1, 2, 3):
            await dovecot.append(message(f"Order {number}", f"mail {number}", CUSTOMER))
        await until(lambda: stored_count(hub, 1))
        assert [text for text, _ in await stored_texts(hub)] == ["mail 3"]
        assert await hub.load_state("mail:imap:INBOX") == f"{validity}:3"


async def test_a_quarantined_mail_moves_the_cursor_too(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    async with running_hub(database_url, dovecot, relay) as hub:
        await add_agent(hub, "maria@example.com")
        automatic = message("Out of office", "Back on Monday", CUSTOMER).replace(
            b"\r\n\r\n", b"\r\nAuto-Submitted: auto-replied\r\n\r\n", 1
        )
        await dovecot.append(automatic)
        await until(lambda: quarantined_count(hub, 1))
        await dovecot.append(message("Order 77", "Where is order 77?", CUSTOMER))
        await until(lambda: stored_count(hub, 1))  # a second pass, after the quarantined mail
        assert await count(hub, quarantine) == 1


async def quarantined_count(hub: Hub, expected: int) -> bool:
    return await count(hub, quarantine) >= expected


async def test_a_refused_login_halts_the_channel_with_one_error(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer, caplog
):
    refused = replace(dovecot, password="not-" + dovecot.password)
    async with running_hub(database_url, refused, relay) as hub:

        async def halted() -> bool:
            return hub.connectors["mail"].halted is not None

        await until(halted)
        reason = f"login as {dovecot.user} refused: [AUTHENTICATIONFAILED] Authentication failed."
        assert hub.connectors["mail"].halted.reason == reason
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
    where = f"{dovecot.user}@{dovecot.host}:{dovecot.port}/INBOX"
    assert lines == [("ERROR", f"email mail: IMAP {where}: {reason}; stopped")]


async def test_every_corpus_mail_by_imap_is_stored_or_quarantined(
    database_url, dovecot: DovecotMailbox, relay: SmtpPeer
):
    files = corpus_files()
    async with running_hub(database_url, dovecot, relay) as hub:
        await add_agent(hub, "maria@example.com")
        for path in files:
            await dovecot.append(path.read_bytes())

        async def all_accounted_for() -> bool:
            return await count(hub, messages) + await count(hub, quarantine) >= len(files)

        await until(all_accounted_for)
        reasons = await hub.db.read(
            lambda conn: conn.execute(select(quarantine.c.reason)).scalars().all()
        )
    assert any(".msg" in reason for reason in reasons)
