"""Two real ``hub run`` processes on one PostgreSQL database, as in a scaled-out deployment.

An agent connected to one process sees at once what another ingested; replies
queued through both leave once each, in order; Telegram polling and IMAP polling
each run in one process and move to the other when that one is killed (``kill -9``).
Several processes on one database need PostgreSQL; on SQLite these tests are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Connection, select

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import messages, outbox
from tests.conftest import API_TOKEN, ENVIRON
from tests.support.databases import POSTGRES_URL
from tests.support.dovecot import DovecotMailbox, email_channel, message
from tests.support.hubs import PASSWORD, add_agent
from tests.support.live import LiveEvents
from tests.support.peers import RecordingPeer
from tests.support.processes import HubProcess, hub_process, write_config
from tests.support.telegram_api import FakeBotApi, private_message
from tests.support.waiting import until
from tests.test_webchat import Widget

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="several hub processes on one database need PostgreSQL: set HUB_TEST_DATABASE_URL",
)

TAKEOVER_SECONDS = 0.5
WEBCHAT = {"kind": "webchat", "name": "webchat"}
TOKENS = {"a": "4242:" + "a" * 35, "b": "4242:" + "b" * 35}
"""One bot token per process, so the Bot API server can tell who called."""


def sms_channel(**settings: Any) -> dict[str, Any]:
    return {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", **settings}


def config_file(directory: Path, database_url: str, *channels: dict[str, Any]) -> Path:
    directory.mkdir(exist_ok=True)
    return write_config(
        directory / "hub.yaml",
        {
            "database": {"url": database_url, "takeover_seconds": TAKEOVER_SECONDS},
            "http": {"host": "127.0.0.1"},
            "outbox": {"base_delay_seconds": 1, "max_delay_seconds": 2},
            "channels": list(channels),
        },
    )


@asynccontextmanager
async def two_processes(
    config: Path, env_a: dict[str, str], env_b: dict[str, str], config_b: Path | None = None
) -> AsyncIterator[tuple[HubProcess, HubProcess]]:
    """Process A on ``config``, B on ``config_b`` (the same one unless given)."""
    config_b = config_b or config
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(
            hub_process(config.parent, "--config", str(config), env=env_a)
        )
        b = await stack.enter_async_context(
            hub_process(config_b.parent, "--config", str(config_b), env=env_b)
        )
        yield a, b


@dataclass
class SignedIn:
    """An agent's browser session on one hub process."""

    base: str
    session: aiohttp.ClientSession
    csrf: str = ""

    async def post(self, path: str, body: dict[str, Any], expect: int) -> Any:
        async with self.session.post(
            self.base + path, json=body, headers={"X-CSRF-Token": self.csrf}
        ) as response:
            answer = await response.json()
            assert response.status == expect, (response.status, answer)
            return answer


@asynccontextmanager
async def signed_in(base: str, email: str) -> AsyncIterator[SignedIn]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        agent = SignedIn(base, session)
        body = await agent.post("/api/login", {"email": email, "password": PASSWORD}, 200)
        agent.csrf = body["csrf_token"]
        yield agent


async def post_message(base: str, external_id: str, text: str) -> None:
    """A customer message through the signed API channel of the process at ``base``."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{base}/channels/sms/messages",
            json={"id": external_id, "from": {"address": "+4915100001"}, "text": text},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as response,
    ):
        assert response.status == 202, await response.text()


def message_text(frame: dict[str, Any]) -> str | None:
    return frame["data"]["message"]["text"] if frame["kind"] == "message.created" else None


def is_ready(frame: dict[str, Any]) -> bool:
    return frame["kind"] == "ready"


async def test_agent_on_one_process_sees_at_once_what_another_ingested(
    hub: Hub, database_url: str, tmp_path: Path
):
    await add_agent(hub, "maria@example.com")
    config = config_file(tmp_path, database_url, WEBCHAT, sms_channel())
    async with (
        two_processes(config, ENVIRON, ENVIRON) as (a, b),
        signed_in(a.base, "maria@example.com") as maria,
    ):
        async with maria.session.ws_connect(a.base + "/api/events") as socket:
            events = LiveEvents(socket)
            [ready] = await events.until(is_ready)
            started = asyncio.get_running_loop().time()
            await post_message(b.base, "b-1", "hello from B")
            live = await events.until(lambda f: message_text(f) == "hello from B")
            latency = asyncio.get_running_loop().time() - started
            await post_message(a.base, "a-1", "via A")
            await post_message(b.base, "b-2", "second from B")
            live += await events.until(lambda f: message_text(f) == "second from B")

        async with maria.session.ws_connect(
            a.base + f"/api/events?after={ready['last_id']}"
        ) as socket:
            replayed = await LiveEvents(socket).until(is_ready)

    assert latency < 2, f"the message took {latency:.2f} s to reach the other process"
    texts = [message_text(f) for f in live if message_text(f)]
    assert texts == ["hello from B", "via A", "second from B"], "each once, in order"
    ids = [f["id"] for f in live]
    assert ids == sorted(set(ids))
    assert [f["id"] for f in replayed[:-1]] == ids, "a resume replays exactly what was live"


async def test_replies_queued_through_two_processes_leave_once_each_in_order(
    hub: Hub, database_url: str, tmp_path: Path
):
    await add_agent(hub, "maria@example.com")
    conversations = [
        (
            await hub.ingest(
                InboundMessage(
                    channel="sms",
                    external_id=f"in-{n}",
                    sender=Address("phone", f"+49151000{n:02}"),
                    text="where is my order?",
                )
            )
        ).conversation_id
        for n in range(8)
    ]
    async with RecordingPeer() as peer:
        config = config_file(
            tmp_path, database_url, WEBCHAT, sms_channel(callback_url=peer.url("/callback"))
        )
        async with (
            two_processes(config, ENVIRON, ENVIRON) as (a, b),
            signed_in(a.base, "maria@example.com") as on_a,
            signed_in(b.base, "maria@example.com") as on_b,
        ):

            async def reply_six_times(conversation_id: int) -> list[int]:
                """Alternating between the processes, so both outboxes are woken and compete."""
                written = []
                for n in range(6):
                    agent = (on_a, on_b)[n % 2]
                    path = f"/api/conversations/{conversation_id}/replies"
                    written.append((await agent.post(path, {"text": f"reply {n}"}, 202))["id"])
                return written

            written = await asyncio.gather(*(reply_six_times(c) for c in conversations))
            expected = sum(len(ids) for ids in written)
            await until(lambda: len(peer.received) >= expected, "every reply delivered", 30)
            await until(lambda: all_sent(hub), "every outbox row recorded as sent")

    delivered = [r.json() for r in peer.received]
    everything = [message_id for ids in written for message_id in ids]
    assert sorted(d["message_id"] for d in delivered) == sorted(everything), "once each"
    for conversation_id, ids in zip(conversations, written, strict=True):
        in_order = [d["message_id"] for d in delivered if d["conversation_id"] == conversation_id]
        assert in_order == ids


async def test_a_reply_sent_by_one_process_reaches_the_widget_open_on_another(
    hub: Hub, database_url: str, tmp_path: Path
):
    await add_agent(hub, "maria@example.com")
    config = config_file(tmp_path, database_url, WEBCHAT, sms_channel())
    async with (
        two_processes(config, ENVIRON, ENVIRON) as (a, b),
        signed_in(b.base, "maria@example.com") as maria_on_b,
        aiohttp.ClientSession() as visitor,
        visitor.ws_connect(a.base + "/webchat/webchat/ws") as socket,
    ):
        widget = Widget(socket)
        await widget.hello()
        asked = await widget.say("client-0001", "Do you ship to Norway?")
        conversation_id = await hub.db.read(partial(conversation_of, asked["message_id"]))
        path = f"/api/conversations/{conversation_id}/replies"
        reply = await maria_on_b.post(path, {"text": "Yes, we do!"}, 202)
        pushed = await widget.frame()
        await until(lambda: all_sent(hub), "the reply recorded as sent")

    assert pushed["type"] == "message"
    assert (pushed["message"]["id"], pushed["message"]["text"]) == (reply["id"], "Yes, we do!")


def conversation_of(message_id: int, conn: Connection) -> int:
    query = select(messages.c.conversation_id).where(messages.c.id == message_id)
    return conn.execute(query).scalar_one()


async def all_sent(hub: Hub) -> bool:
    def states(conn: Connection) -> set[str]:
        return set(conn.execute(select(outbox.c.state).distinct()).scalars())

    return await hub.db.read(states) == {"sent"}


async def test_telegram_polling_runs_in_one_process_and_moves_when_it_is_killed(
    hub: Hub, database_url: str, tmp_path: Path
):
    async with FakeBotApi(TOKENS["a"], also_accepted=(TOKENS["b"],)) as api:
        telegram = {
            "kind": "telegram",
            "name": "tg",
            "mode": "polling",
            "token_env": "TG_TOKEN",
            "base_url": api.base_url,
            "poll_seconds": 1,
        }
        config = config_file(tmp_path, database_url, WEBCHAT, telegram)
        async with two_processes(config, {"TG_TOKEN": TOKENS["a"]}, {"TG_TOKEN": TOKENS["b"]}) as (
            a,
            b,
        ):
            await until(lambda: api.called("getUpdates"), "one process polls")
            await asyncio.sleep(4 * TAKEOVER_SECONDS)  # the other tried to take the lock meanwhile
            callers = {c.token for c in api.calls}
            assert len(callers) == 1, "only one process talks to the Bot API"
            [leader] = callers
            survivor = TOKENS["b"] if leader == TOKENS["a"] else TOKENS["a"]
            await api.push_update(private_message(1, 11, "before the kill"))
            await until(lambda: stored_texts(hub, "tg", ["before the kill"]), "first update stored")

            await {TOKENS["a"]: a, TOKENS["b"]: b}[leader].kill()
            calls_at_kill = len(api.calls)
            await api.push_update(private_message(2, 12, "after the kill"))
            took = await until(
                lambda: stored_texts(hub, "tg", ["before the kill", "after the kill"]),
                "the update sent after the kill stored by the other process",
            )
            after_kill = api.calls[calls_at_kill:]

    assert took < 4 * TAKEOVER_SECONDS + 2, f"takeover took {took:.1f} s"
    assert {c.token for c in after_kill} == {survivor}


async def stored_texts(hub: Hub, channel: str, expected: list[str]) -> bool:
    """Whether the messages stored for ``channel`` are exactly ``expected``, in order."""

    def texts(conn: Connection) -> list[str]:
        query = select(messages.c.text).where(messages.c.channel == channel).order_by(messages.c.id)
        return list(conn.execute(query).scalars())

    return await hub.db.read(texts) == expected


NO_RELAY = 2525
"""The processes send no mail in the IMAP test; nothing listens there."""


async def test_imap_polling_runs_in_one_process_and_moves_when_it_is_killed(
    hub: Hub, database_url: str, tmp_path: Path, dovecot: DovecotMailbox
):
    # One mailbox under a login per process (the test delivers under a third), so
    # Dovecot's log tells which process polls.
    a_login, b_login = (dovecot.server.add_alias(dovecot) for _ in range(2))
    logins = LoginLog(a_login, b_login)
    async with two_processes(
        config_file(tmp_path / "a", database_url, email_channel(a_login, NO_RELAY, poll_seconds=1)),
        {"IMAP_PASSWORD": a_login.password},
        {"IMAP_PASSWORD": b_login.password},
        config_file(tmp_path / "b", database_url, email_channel(b_login, NO_RELAY, poll_seconds=1)),
    ) as (a, b):
        await until(logins.any_since, "one process logs in to Dovecot")
        await asyncio.sleep(4 * TAKEOVER_SECONDS)  # the other tried to take the lock meanwhile
        assert len(logins.since()) == 1, "only one process polls the mailbox"
        [leader] = logins.since()
        await dovecot.append(message("Order 77", "before the kill"))
        await until(lambda: stored_texts(hub, "mail", ["before the kill"]), "first mail stored")

        await {a_login.user: a, b_login.user: b}[leader].kill()
        logins.mark()
        await dovecot.append(message("Re: Order 77", "after the kill"))
        took = await until(
            lambda: stored_texts(hub, "mail", ["before the kill", "after the kill"]),
            "the mail delivered after the kill stored by the other process",
        )
        await until(logins.any_since, "the other process's login logged")

    assert took < 4 * TAKEOVER_SECONDS + 2, f"takeover took {took:.1f} s"
    assert logins.since() == {a_login.user, b_login.user} - {leader}, "only the survivor polls"


class LoginLog:
    """The IMAP logins of some mailboxes in Dovecot's log, since the last :meth:`mark`."""

    def __init__(self, *mailboxes: DovecotMailbox) -> None:
        self.server = mailboxes[0].server
        self.users = [mailbox.user for mailbox in mailboxes]
        self.seen = 0

    def all(self) -> list[str]:
        return self.server.logins(*self.users)

    def mark(self) -> None:
        self.seen = len(self.all())

    def since(self) -> set[str]:
        """Who logged in since the mark."""
        return set(self.all()[self.seen :])

    def any_since(self) -> bool:
        return bool(self.since())
