from __future__ import annotations

import pytest
from sqlalchemy import func, select

from connectors.base import Address, Cursor, InboundMessage
from hub.app import Hub
from hub.db.schema import conversations, customers, identities, identity_claims, messages
from hub.errors import Forbidden, NotFound
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.messages import proven


def webchat(visitor: str, external_id: str, text: str = "hello", **kw: object) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        external_id=external_id,
        sender=Address("webchat", visitor),
        text=text,
        **kw,
    )


async def count(hub: Hub, table) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
    )


async def test_same_external_id_is_stored_once_and_reported_duplicate(hub: Hub):
    await add_agent(hub, "maria@example.com")
    first = await hub.ingest(webchat("v1", "m-1"))
    again = await hub.ingest(webchat("v1", "m-1", text="retried by the platform"))
    assert not first.duplicate
    assert again.duplicate
    assert again.message_id == first.message_id
    assert await count(hub, messages) == 1


async def test_a_reused_external_id_is_stored_apart_only_where_both_digests_differ(hub: Hub):
    await add_agent(hub, "maria@example.com")
    await hub.ingest(webchat("v1", "m-1"))
    stored_before_digests = await hub.ingest(webchat("v1", "m-1", content_digest="b" * 64))
    assert stored_before_digests.duplicate, "no digest to compare: the id alone decides"
    first = await hub.ingest(webchat("v1", "m-2", content_digest="a" * 64))
    other = webchat("v2", "m-2", text="someone else", content_digest="c" * 64)
    apart = await hub.ingest(other)
    assert not apart.duplicate
    assert apart.customer_id != first.customer_id, "the sender's own, not the first's"
    again = await hub.ingest(other)
    assert (again.duplicate, again.message_id) == (True, apart.message_id)
    assert await count(hub, messages) == 3


async def test_same_external_id_on_another_channel_is_another_message(hub: Hub):
    await hub.ingest(webchat("v1", "42"))
    sms = InboundMessage(
        channel="sms", external_id="42", sender=Address("phone", "+4915100000"), text="hi"
    )
    assert not (await hub.ingest(sms)).duplicate
    assert await count(hub, messages) == 2


async def test_new_sender_creates_customer_identity_and_one_open_conversation(hub: Hub):
    first = await hub.ingest(webchat("v1", "a", sender_name="Lena"))
    second = await hub.ingest(webchat("v1", "b"))
    assert first.customer_id == second.customer_id
    assert first.conversation_id == second.conversation_id
    assert await count(hub, customers) == 1
    assert await count(hub, identities) == 1
    assert await count(hub, conversations) == 1
    name = await hub.db.read(lambda conn: conn.execute(select(customers.c.name)).scalar_one())
    assert name == "Lena"


async def test_webchat_then_api_channel_with_linked_email_share_conversation_and_owner(hub: Hub):
    await add_agent(hub, "maria@example.com")
    await add_agent(hub, "tom@example.com")
    by_chat = await hub.ingest(
        webchat("v1", "c1", linked=proven("email", "lena@example.org"), sender_name="Lena")
    )
    by_sms = await hub.ingest(
        InboundMessage(
            channel="sms",
            external_id="sms-1",
            sender=Address("phone", "+4915100001"),
            text="it's me again, by SMS",
            linked=proven("email", "lena@example.org"),
        )
    )
    assert by_sms.customer_id == by_chat.customer_id
    assert by_sms.conversation_id == by_chat.conversation_id
    owners = await hub.db.read(
        lambda conn: conn.execute(select(conversations.c.assignee_id)).scalars().all()
    )
    assert len(owners) == 1
    assert owners[0] is not None
    kinds = await hub.db.read(
        lambda conn: sorted(conn.execute(select(identities.c.kind)).scalars().all())
    )
    assert kinds == ["email", "phone", "webchat"]


async def test_a_claimed_address_is_recorded_never_linked_even_when_nobody_holds_it(hub: Hub):
    lena = Address("email", "lena@example.org")
    owner_of_email = await hub.ingest(webchat("v1", "1", linked=proven("email", lena.address)))
    squatter = await hub.ingest(webchat("v2", "2", claimed=(lena,)))
    unheld = await hub.ingest(webchat("v3", "3", claimed=(Address("email", "new@example.org"),)))
    assert len({owner_of_email.customer_id, squatter.customer_id, unheld.customer_id}) == 3
    holders = await hub.db.read(
        lambda conn: conn.execute(
            select(identities.c.customer_id, identities.c.address).where(
                identities.c.kind == "email"
            )
        ).all()
    )
    assert holders == [(owner_of_email.customer_id, lena.address)]
    claims = await hub.db.read(
        lambda conn: conn.execute(
            select(identity_claims.c.customer_id, identity_claims.c.address).order_by(
                identity_claims.c.id
            )
        ).all()
    )
    assert claims == [
        (squatter.customer_id, lena.address),
        (unheld.customer_id, "new@example.org"),
    ]


async def test_message_on_unknown_channel_is_refused(hub: Hub):
    with pytest.raises(NotFound, match="fax"):
        await hub.ingest(
            InboundMessage(channel="fax", external_id="1", sender=Address("fax", "1"), text="x")
        )
    assert await count(hub, messages) == 0


async def test_concurrent_ingest_of_many_senders_is_all_stored(hub: Hub):
    import asyncio

    await add_agent(hub, "maria@example.com")
    results = await asyncio.gather(
        *(hub.ingest(webchat(f"v{i % 7}", f"id-{i}")) for i in range(60))
    )
    assert len({r.message_id for r in results}) == 60
    assert await count(hub, customers) == 7
    assert await count(hub, conversations) == 7


async def test_a_cursor_is_saved_with_its_message_and_not_without_it(
    database_url: str, clock: FakeClock
) -> None:
    """A connector's read position commits with the message, or not at all."""
    api = {"kind": "api", "token_env": "SMS_TOKEN", "identity_kind": "phone"}
    settings = make_settings(
        database_url, channels=[{**api, "name": "sms"}, {**api, "name": "crm"}]
    )
    async with started_hub(settings, clock) as hub:

        def text(channel: str, external_id: str) -> InboundMessage:
            return InboundMessage(
                channel=channel,
                external_id=external_id,
                sender=Address("phone", "+4915100000"),
                text="hello",
            )

        await hub.ingest(text("crm", "c-1"), cursor=Cursor("crm:offset", "1"))
        assert await hub.load_state("crm:offset") == "1"
        with pytest.raises(Forbidden):
            await hub.ingest(text("sms", "s-1"), cursor=Cursor("sms:offset", "1"))
        assert await hub.load_state("sms:offset") is None
        assert await count(hub, messages) == 1
