"""Web chat visitors over the real widget socket: a typed email is a claim; a signature from the
embedding site or a one-time code by email is proof; limits hold across sockets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage
from connectors.webchat.limits import Buckets
from connectors.webchat.protocol import signature
from hub.app import Hub
from hub.db.schema import (
    audit_log,
    conversations,
    identities,
    messages,
    verification_codes,
)
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, add_agent, queue_reply, started_hub
from tests.support.smtp import SmtpPeer
from tests.test_webchat import Widget, conversations_of

SECRET = "site-identity-secret-0123456789"
LENA = "lena@example.org"


def settings_for(database_url: str, relay_port: int) -> Settings:
    data = {
        "database": {"url": database_url},
        "channels": [
            {"kind": "webchat", "name": "webchat", "identity_secret_env": "SITE_SECRET"},
            {
                "kind": "email",
                "name": "mail",
                "address": "support@shop.example",
                "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
            },
        ],
    }
    return Settings.model_validate(data, context={"environ": {"SITE_SECRET": SECRET}})


@pytest.fixture
async def hub(database_url, clock, relay) -> AsyncIterator[Hub]:
    async with started_hub(settings_for(database_url, relay.port), clock) as hub:
        yield hub


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def widget(session, server, **headers) -> Widget:
    socket = await session.ws_connect(server.make_url("/webchat/webchat/ws"), headers=headers)
    return Widget(socket)


async def lena_writes_by_mail(hub: Hub) -> int:
    result = await hub.ingest(
        InboundMessage(
            channel="mail", external_id="<m1@example.org>", sender=Address("email", LENA), text="hi"
        )
    )
    return result.customer_id


def signed(email: str | None = LENA, user_id: str | None = None, secret: str = SECRET) -> dict:
    identity = {"signature": signature(secret, user_id, email)}
    if email:
        identity["email"] = email
    if user_id:
        identity["user_id"] = user_id
    return identity


async def customer_of_message(hub: Hub, message_id: int) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(
            select(conversations.c.customer_id)
            .join(messages, messages.c.conversation_id == conversations.c.id)
            .where(messages.c.id == message_id)
        ).scalar_one()
    )


def code_in(mail) -> str:
    return re.search(r"\b(\d{6})\b", mail.message.get_content()).group(1)


async def test_a_visitor_typing_a_customers_email_gets_nothing_of_theirs(
    hub: Hub, server: TestServer, session, relay: SmtpPeer
):
    """The reported attack: the visitor joined Lena's conversation and got the agent's reply."""
    agent = await add_agent(hub, "maria@example.com")
    lena = await lena_writes_by_mail(hub)
    visitor = await widget(session, server)
    welcome = await visitor.hello(email=LENA)
    assert welcome["history"] == []
    ack = await visitor.say("client-0001", "It's Lena, send me my order details")
    assert await customer_of_message(hub, ack["message_id"]) != lena
    conversation_id = await hub.db.read(
        lambda conn: conn.execute(
            select(conversations.c.id).where(conversations.c.customer_id == lena)
        ).scalar_one()
    )
    await queue_reply(hub, agent, conversation_id, "Order 1042, Hauptstr. 5")
    await hub.outbox.run_due()
    assert [mail.rcpt_tos for mail in relay.received] == [[LENA]]
    with pytest.raises(TimeoutError):
        await visitor.frame()


async def test_the_inbox_shows_the_claim_and_whose_address_it_is(
    hub: Hub, server: TestServer, session
):
    await add_agent(hub, "admin@example.com", role="admin")
    lena = await lena_writes_by_mail(hub)
    visitor = await widget(session, server)
    await visitor.hello(email=LENA)
    ack = await visitor.say("client-0001", "hello")
    admin = await Browser(server, session).login("admin@example.com")
    customer = await admin.get(
        f"/api/customers/{await customer_of_message(hub, ack['message_id'])}"
    )
    assert customer["claims"] == [
        {
            "kind": "email",
            "address": LENA,
            "channel": "webchat",
            "reason": "typed",
            "at": customer["claims"][0]["at"],
            "holder": {"id": lena, "name": LENA},
        }
    ]
    assert [i["verified_by"] for i in customer["identities"]] == ["channel"]


async def test_a_signed_identity_links_the_visitor_to_the_customer(
    hub: Hub, server: TestServer, session
):
    lena = await lena_writes_by_mail(hub)
    visitor = await widget(session, server)
    welcome = await visitor.hello(identity=signed(LENA.upper().replace("EXAMPLE", "Example")))
    assert welcome["signed_in"] is True
    ack = await visitor.say("client-0001", "signed in on the shop")
    assert await customer_of_message(hub, ack["message_id"]) == lena


async def test_a_signed_user_id_alone_links_visits_from_two_devices(
    hub: Hub, server: TestServer, session
):
    laptop = await widget(session, server)
    await laptop.hello(identity=signed(email=None, user_id="u-17"))
    one = await laptop.say("client-0001", "from my laptop")
    phone = await widget(session, server)
    await phone.hello(identity=signed(email=None, user_id="u-17"))
    two = await phone.say("client-0002", "from my phone")
    assert len(await conversations_of(hub, one, two)) == 1
    site = await hub.db.read(
        lambda conn: conn.execute(
            select(identities.c.address, identities.c.verified_by).where(
                identities.c.kind == "site"
            )
        ).all()
    )
    assert [tuple(s) for s in site] == [("webchat:u-17", "signed")]


@pytest.mark.parametrize(
    "identity",
    [
        signed(secret="a-guess-at-the-secret"),
        {**signed(), "email": "someone.else@example.org"},
        {**signed(), "signature": "0" * 64},
    ],
    ids=["wrong-secret", "other-email", "zeros"],
)
async def test_a_wrong_signature_links_nothing(hub: Hub, server: TestServer, session, identity):
    lena = await lena_writes_by_mail(hub)
    visitor = await widget(session, server)
    await visitor.socket.send_json({"type": "hello", "identity": identity})
    refused = await visitor.frame()
    assert refused == {
        "type": "error",
        "error": "the site's identity signature does not match: chatting as a guest",
    }
    assert (await visitor.frame())["signed_in"] is False
    ack = await visitor.say("client-0001", "hello")
    assert await customer_of_message(hub, ack["message_id"]) != lena


async def test_a_shared_browser_signed_in_as_someone_else_gets_a_visitor_of_its_own(
    hub: Hub, server: TestServer, session
):
    lena = await lena_writes_by_mail(hub)
    tom = await widget(session, server)
    token = (await tom.hello(identity=signed("tom@example.org")))["token"]
    await tom.say("client-0001", "Tom here")
    await tom.socket.close()
    browser = await widget(session, server)
    welcome = await browser.hello(token, identity=signed())
    assert welcome["token"] != token
    assert welcome["history"] == []
    ack = await browser.say("client-0002", "Lena here")
    assert await customer_of_message(hub, ack["message_id"]) == lena


async def test_a_one_time_code_by_email_proves_the_address_and_merges_audited(
    hub: Hub, server: TestServer, session, relay: SmtpPeer
):
    lena = await lena_writes_by_mail(hub)
    visitor = await widget(session, server)
    welcome = await visitor.hello(email=LENA)
    assert welcome["email_codes"] is True
    first = await visitor.say("client-0001", "I wrote before by mail")
    await visitor.socket.send_json({"type": "verify", "email": LENA})
    assert await visitor.frame() == {"type": "code-sent", "email": LENA}
    (mail,) = relay.received
    assert mail.rcpt_tos == [LENA]
    code = code_in(mail)
    stored = await hub.db.read(
        lambda conn: conn.execute(select(verification_codes.c.code_hash)).scalar_one()
    )
    assert code not in stored
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    await visitor.socket.send_json({"type": "code", "code": wrong})
    assert (await visitor.frame())["error"] == "that is not the code we sent"
    await visitor.socket.send_json({"type": "code", "code": code})
    assert await visitor.frame() == {"type": "verified", "email": LENA}
    assert await customer_of_message(hub, first["message_id"]) == lena
    await visitor.socket.send_json({"type": "code", "code": code})
    assert "no code is waiting" in (await visitor.frame())["error"]
    merged = await hub.db.read(
        lambda conn: conn.execute(
            select(audit_log.c.actor_id, audit_log.c.details).where(
                audit_log.c.action == "customer.merged"
            )
        ).one()
    )
    assert (merged.actor_id, merged.details["proof"]) == (None, "code")


async def test_a_code_expires_and_allows_five_guesses(
    hub: Hub, server: TestServer, session, relay: SmtpPeer, clock: FakeClock
):
    visitor = await widget(session, server)
    await visitor.hello()
    await visitor.socket.send_json({"type": "verify", "email": LENA})
    await visitor.frame()
    code = code_in(relay.received[-1])
    clock.advance(minutes=11)
    await visitor.socket.send_json({"type": "code", "code": code})
    assert "expired" in (await visitor.frame())["error"]
    await visitor.socket.send_json({"type": "verify", "email": LENA})
    await visitor.frame()
    code = code_in(relay.received[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        await visitor.socket.send_json({"type": "code", "code": wrong})
        assert (await visitor.frame())["error"] == "that is not the code we sent"
    await visitor.socket.send_json({"type": "code", "code": code})
    assert "too many wrong codes" in (await visitor.frame())["error"]


async def test_a_code_the_relay_refused_cannot_be_guessed_and_still_counts(
    hub: Hub, server: TestServer, session, relay: SmtpPeer
):
    visitor = await widget(session, server)
    await visitor.hello()
    relay.answer_data("451 4.3.0 try later")
    await visitor.socket.send_json({"type": "verify", "email": LENA})
    assert (await visitor.frame())["error"] == "the code could not be sent: try again later"
    await visitor.socket.send_json({"type": "code", "code": "123456"})
    assert "no code is waiting" in (await visitor.frame())["error"]
    counted = await hub.db.read(
        lambda conn: conn.execute(select(verification_codes.c.used_at.is_not(None))).scalars().all()
    )
    assert counted == [True]


async def test_codes_are_limited_per_address_and_per_client(
    hub: Hub, server: TestServer, session, relay: SmtpPeer
):
    visitors = [await widget(session, server) for _ in range(4)]
    for visitor in visitors:
        await visitor.hello()
    for visitor in visitors[:3]:
        await visitor.socket.send_json({"type": "verify", "email": LENA})
        assert (await visitor.frame())["type"] == "code-sent"
    await visitors[3].socket.send_json({"type": "verify", "email": LENA})
    assert "too many codes asked for this email" in (await visitors[3].frame())["error"]
    answers = [await ask_code(visitors[3], f"x{number}@example.org") for number in range(6)]
    assert answers[:5] == ["code-sent"] * 5
    assert "too many codes asked for this visitor" in answers[5]
    assert [await ask_code(visitors[0], f"y{n}@example.org") for n in range(2)] == ["code-sent"] * 2
    assert "too many codes asked for this client" in await ask_code(visitors[1], "z@example.org")
    assert len(relay.received) == 10


async def ask_code(visitor: Widget, email: str) -> str:
    await visitor.socket.send_json({"type": "verify", "email": email})
    answer = await visitor.frame()
    return answer["type"] if answer["type"] == "code-sent" else answer["error"]


async def test_messages_are_limited_per_visitor_across_sockets(
    hub: Hub, server: TestServer, session
):
    first = await widget(session, server)
    token = (await first.hello())["token"]
    sockets = [first] + [await widget(session, server) for _ in range(3)]
    for socket in sockets[1:]:
        await socket.hello(token)
    answers = []
    for number in range(16):
        socket = sockets[number % 4]
        answers.append((await socket.say(f"client-{number:04d}", "spam"))["type"])
    assert answers.count("ack") == 10
    assert answers.count("error") == 6


async def test_sockets_and_frames_are_limited_per_client_address(
    hub: Hub, server: TestServer, session
):
    sockets = [await widget(session, server) for _ in range(20)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await widget(session, server)
    assert refused.value.status == 429
    hellos = []
    for socket in sockets:
        await socket.socket.send_json({"type": "hello"})
        await socket.socket.send_json({"type": "hello"})
        hellos += [(await socket.frame())["type"], (await socket.frame())["type"]]
    assert hellos.count("welcome") == 30
    assert hellos.count("error") == 10
    await sockets[0].socket.close()
    await widget(session, server)  # a closed socket frees its place


def test_rate_limit_buckets_forget_the_oldest_keys_beyond_their_bound():
    now = [0.0]
    buckets = Buckets(burst=1, per_second=1, max_keys=100, clock=lambda: now[0])
    for number in range(10_000):
        buckets.allow(f"client-{number}")
    assert len(buckets) == 100
    assert not buckets.allow("client-9999")
    now[0] += 1
    assert buckets.allow("client-9999")


async def test_behind_a_trusted_proxy_widgets_count_per_client_and_ipv6_per_64(
    database_url, clock, relay, session
):
    settings = settings_for(database_url, relay.port)
    http = settings.http.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    async with started_hub(settings.model_copy(update={"http": http}), clock) as hub:
        server = TestServer(hub.web_app(), host="127.0.0.1")
        await server.start_server()
        household = [
            await widget(session, server, **{"X-Forwarded-For": f"2001:db8:1:2::{n}"})
            for n in range(1, 21)
        ]
        try:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await widget(session, server, **{"X-Forwarded-For": "2001:db8:1:2:ffff::9"})
            assert refused.value.status == 429
            neighbour = await widget(session, server, **{"X-Forwarded-For": "2001:db8:1:3::1"})
            household.append(neighbour)
            assert (await neighbour.hello())["type"] == "welcome"
        finally:
            for socket in household:
                await socket.socket.close()
            await server.close()
