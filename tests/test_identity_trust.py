"""Identity linking only on proof: claims stay claims, API channels speak for their own senders,
disputed mail stays apart, and replies never go by default to an unproven address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage, Proof
from hub.app import Hub
from hub.db.schema import audit_log, identities, identity_claims, messages
from tests.support.hubs import Browser, add_agent, queue_reply, started_hub
from tests.support.messages import chat, proven
from tests.support.peers import RecordingPeer
from tests.support.smtp import SmtpPeer

TOKENS = {"CRM_TOKEN": "crm-token-0123456789", "SMS_TOKEN": "sms-token-0123456789"}
LENA = Address("email", "lena@example.org")


def api_channel(name: str, url: str, **extra: object) -> dict[str, object]:
    return {
        "kind": "api",
        "name": name,
        "token_env": f"{name.upper()}_TOKEN",
        "identity_kind": "phone",
        "callback_url": f"{url}/{name}",
        **extra,
    }


def trust_settings(database_url: str, url: str, relay_port: int, **extra: object) -> Settings:
    data = {
        "database": {"url": database_url},
        "channels": [
            {"kind": "webchat", "name": "webchat"},
            api_channel("crm", url, **extra),
            api_channel("sms", url, **extra),
            {
                "kind": "email",
                "name": "mail",
                "address": "support@shop.example",
                "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
            },
        ],
    }
    return Settings.model_validate(data, context={"environ": TOKENS})


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
async def trust_hub(database_url, clock, peer, relay) -> AsyncIterator[Hub]:
    async with started_hub(trust_settings(database_url, peer.url(""), relay.port), clock) as hub:
        yield hub


async def post_as(server: TestServer, channel: str, sender: str, message_id: str, **extra):
    token = TOKENS[f"{channel.upper()}_TOKEN"]
    body = {"id": message_id, "from": {"address": sender, **extra}, "text": f"hi {message_id}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.make_url(f"/channels/{channel}/messages"),
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, await response.json()


async def rows(hub: Hub, statement) -> list[tuple]:
    return await hub.db.read(lambda conn: [tuple(r) for r in conn.execute(statement)])


def mail(external_id: str, sender: Address = LENA, **extra: object) -> InboundMessage:
    return InboundMessage(
        channel="mail", external_id=external_id, sender=sender, text="about my order", **extra
    )


async def test_a_claimed_email_does_not_join_the_customer_nor_take_their_replies(
    trust_hub: Hub, relay: SmtpPeer
):
    agent = await add_agent(trust_hub, "maria@example.com")
    lena = await trust_hub.ingest(mail("m1"))
    visitor = await trust_hub.ingest(
        chat("v1", "c1", "I am Lena, where is my parcel?", claimed=(LENA,))
    )
    assert visitor.customer_id != lena.customer_id
    assert visitor.conversation_id != lena.conversation_id
    await queue_reply(trust_hub, agent, lena.conversation_id, "Your order 1042 left Monday")
    assert await trust_hub.outbox.run_due() == 1
    assert [mail.rcpt_tos for mail in relay.received] == [[LENA.address]]


async def test_a_visitor_who_claims_an_address_first_cannot_squat_it(trust_hub: Hub):
    squatter = await trust_hub.ingest(chat("v1", "c1", claimed=(LENA,)))
    lena = await trust_hub.ingest(mail("m1"))
    assert lena.customer_id != squatter.customer_id
    holder = await rows(
        trust_hub, select(identities.c.customer_id).where(identities.c.address == LENA.address)
    )
    assert holder == [(lena.customer_id,)]


async def test_an_api_channel_may_not_write_as_another_channels_sender(
    trust_hub: Hub, peer: RecordingPeer
):
    server = TestServer(trust_hub.web_app(), host="127.0.0.1")
    await server.start_server()
    try:
        agent = await add_agent(trust_hub, "maria@example.com")
        status, first = await post_as(server, "crm", "+4915100", "crm-1")
        assert status == 202
        status, refused = await post_as(server, "sms", "+4915100", "sms-1")
    finally:
        await server.close()
    assert status == 403
    assert "channel sms may not write as phone +4915100" in refused["error"]
    assert "share_identities" in refused["error"]
    assert await rows(trust_hub, select(messages.c.external_id)) == [("crm-1",)]
    await queue_reply(trust_hub, agent, first["conversation_id"], "noted")
    await trust_hub.outbox.run_due()
    assert [r.path for r in peer.received] == ["/crm"]


async def test_api_channels_that_share_identities_share_the_customer(
    database_url, clock, peer, relay
):
    settings = trust_settings(database_url, peer.url(""), relay.port, share_identities=True)
    async with started_hub(settings, clock) as hub:
        server = TestServer(hub.web_app(), host="127.0.0.1")
        await server.start_server()
        try:
            _, first = await post_as(server, "crm", "+4915100", "crm-1")
            status, second = await post_as(server, "sms", "+4915100", "sms-1")
        finally:
            await server.close()
    assert status == 202
    assert second["conversation_id"] == first["conversation_id"]


async def test_an_identity_a_person_linked_may_be_used_by_any_channel_of_its_kind(
    trust_hub: Hub,
):
    await add_agent(trust_hub, "admin@example.com", role="admin")
    first = await trust_hub.ingest(chat("v1", "c1"))
    server = TestServer(trust_hub.web_app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            browser = await Browser(server, session).login("admin@example.com")
            await browser.post(
                f"/api/admin/customers/{first.customer_id}/identities",
                {"kind": "phone", "address": "+4915100"},
                expect=201,
            )
        status, posted = await post_as(server, "sms", "+4915100", "sms-1")
    finally:
        await server.close()
    assert status == 202
    assert posted["conversation_id"] == first.conversation_id


@pytest.mark.parametrize("verified", [False, True])
async def test_from_email_is_a_claim_unless_the_channel_verified_it(
    database_url, clock, peer, relay, verified
):
    settings = trust_settings(database_url, peer.url(""), relay.port, verified_email=verified)
    async with started_hub(settings, clock) as hub:
        lena = await hub.ingest(mail("m1"))
        server = TestServer(hub.web_app(), host="127.0.0.1")
        await server.start_server()
        try:
            _, posted = await post_as(server, "crm", "+4915100", "crm-1", email=LENA.address)
        finally:
            await server.close()
        claims = await rows(hub, select(identity_claims.c.address))
    assert (posted["conversation_id"] == lena.conversation_id) is verified
    assert claims == ([] if verified else [(LENA.address,)])


async def test_mail_that_failed_authentication_is_kept_apart_and_flagged(trust_hub: Hub):
    lena = await trust_hub.ingest(mail("m1", sender_proof=Proof.MAIL_AUTH))
    forged = await trust_hub.ingest(
        mail("m2", sender_name="Lena", sender_proof=None, auth_failure="dmarc=fail")
    )
    again = await trust_hub.ingest(mail("m3", sender_proof=None, auth_failure="dkim=fail"))
    assert forged.customer_id != lena.customer_id
    assert again.customer_id == forged.customer_id
    stored = await rows(
        trust_hub,
        select(messages.c.external_id, messages.c.identity_id.is_(None), messages.c.meta).order_by(
            messages.c.id
        ),
    )
    assert stored[1] == ("m2", True, {"auth_failure": "dmarc=fail"})
    claims = await rows(trust_hub, select(identity_claims.c.customer_id, identity_claims.c.reason))
    assert claims == [(forged.customer_id, "unauthenticated")]
    holder = await rows(trust_hub, select(identities.c.customer_id, identities.c.verified_by))
    assert holder == [(lena.customer_id, "mail-auth")]


async def test_a_reply_defaults_to_a_proven_identity_over_an_unproven_one(trust_hub: Hub):
    """Mail the hub could not check reaches its customer; the reply goes where proof is."""
    agent = await add_agent(trust_hub, "maria@example.com")
    chatted = await trust_hub.ingest(chat("v1", "c1", linked=proven("email", LENA.address)))
    await trust_hub.db.write(
        lambda tx: tx.conn.execute(
            identities.update().values(verified_by=None).where(identities.c.kind == "email")
        )
    )
    mailed = await trust_hub.ingest(mail("m1", sender_proof=None))
    assert mailed.conversation_id == chatted.conversation_id
    reply_id = await queue_reply(trust_hub, agent, chatted.conversation_id, "hello")
    channel = await rows(trust_hub, select(messages.c.channel).where(messages.c.id == reply_id))
    assert channel == [("webchat",)]


async def test_a_proof_merges_a_visitors_own_customer_into_the_holder_audited(trust_hub: Hub):
    lena = await trust_hub.ingest(mail("m1"))
    visitor = await trust_hub.ingest(chat("v1", "c1", claimed=(LENA,)))
    assert visitor.customer_id != lena.customer_id
    proved = await trust_hub.ingest(
        chat("v1", "c2", linked=proven("email", LENA.address, Proof.CODE))
    )
    assert proved.customer_id == lena.customer_id
    assert await rows(trust_hub, select(identity_claims.c.id)) == []
    audit = await rows(
        trust_hub, select(audit_log.c.action, audit_log.c.actor_id, audit_log.c.details)
    )
    action, actor, details = audit[-1]
    assert (action, actor, details["proof"]) == ("customer.merged", None, "code")
    assert details["merged_customer"]["id"] == visitor.customer_id


async def test_a_proof_never_merges_two_established_customers(trust_hub: Hub):
    lena = await trust_hub.ingest(mail("m1"))
    other = await trust_hub.ingest(chat("v1", "c1", linked=proven("email", "tom@example.org")))
    again = await trust_hub.ingest(chat("v1", "c2", linked=proven("email", LENA.address)))
    assert again.customer_id == other.customer_id != lena.customer_id


async def test_a_proof_confirms_an_address_nothing_had_proven_and_keeps_a_proven_one(
    trust_hub: Hub,
):
    unchecked = await trust_hub.ingest(mail("m1", sender_proof=None))
    signed = await trust_hub.ingest(chat("v1", "c1", linked=proven("email", LENA.address)))
    await trust_hub.ingest(chat("v1", "c2", linked=proven("email", LENA.address, Proof.CODE)))
    assert signed.customer_id == unchecked.customer_id
    proofs = await rows(
        trust_hub, select(identities.c.kind, identities.c.verified_by).order_by(identities.c.id)
    )
    assert proofs == [("email", "signed"), ("webchat", "channel")]
