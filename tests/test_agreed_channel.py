"""A customer's agreed channel: replies go there by default, the agent may choose otherwise."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import insert, select

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.database import Tx
from hub.db.schema import audit_log, identities
from tests.conftest import ENVIRON
from tests.support.hubs import add_agent
from tests.test_inbox_browser import EMAIL, open_conversation, open_inbox


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Lena writes by SMS; a second API channel reaches email addresses (no hours: no holds)."""
    api = {"kind": "api", "token_env": "SMS_TOKEN"}
    data = {
        "database": {"url": database_url},
        "channels": [
            {**api, "name": "sms", "identity_kind": "phone"},
            {**api, "name": "mailer", "identity_kind": "email"},
        ],
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


async def test_replies_go_to_the_agreed_channel_unless_the_agent_chooses(hub: Hub, browser_factory):
    await add_agent(hub, "maria@example.com", name="Maria")
    await add_agent(hub, "admin@example.com", role="admin")
    sms = Address("phone", "+447700900123")
    written = await hub.ingest(
        InboundMessage(channel="sms", external_id="s1", sender=sms, text="hi", sender_name="Lena")
    )
    admin = await (await browser_factory()).login("admin@example.com")
    customer = f"/api/admin/customers/{written.customer_id}"
    await admin.post(customer + "/identities", {"kind": "email", "address": "lena@example.org"})
    maria = await (await browser_factory()).login("maria@example.com")
    agreed = f"/api/customers/{written.customer_id}/agreed-channel"

    status, body = await maria.call("PUT", agreed, {"agreed_channel": "fax"})
    assert status == 422
    assert body["problems"][0]["field"] == "agreed_channel"
    saved = await maria.call("PUT", agreed, {"agreed_channel": "email"}, expect=200)
    assert saved[1]["agreed_channel"] == "email"

    conversation = f"/api/conversations/{written.conversation_id}"
    detail = await maria.get(conversation)
    by_kind = {i["kind"]: i["id"] for i in detail["identities"]}
    assert detail["default_identity_id"] == by_kind["email"]
    default = await maria.post(conversation + "/replies", {"text": "By mail"}, expect=202)
    chosen = await maria.post(
        conversation + "/replies", {"text": "By SMS", "identity_id": by_kind["phone"]}, expect=202
    )
    assert (default["channel"], chosen["channel"]) == ("mailer", "sms")

    await maria.call("PUT", agreed, {"agreed_channel": None}, expect=200)
    assert (await maria.get(conversation))["default_identity_id"] == by_kind["phone"]


async def test_only_a_proven_identity_can_be_agreed_and_the_agreement_is_audited(
    hub: Hub, browser_factory
):
    """Replies only ever default to a proven identity: agreeing on an unproven one would
    promise the customer a channel their replies do not take."""
    await add_agent(hub, "maria@example.com", name="Maria")
    sms = Address("phone", "+447700900123")
    written = await hub.ingest(
        InboundMessage(channel="sms", external_id="s1", sender=sms, text="hi", sender_name="Lena")
    )

    def unproven_email(tx: Tx) -> None:
        tx.conn.execute(
            insert(identities).values(
                customer_id=written.customer_id,
                kind="email",
                address="lena@example.org",
                created_at=tx.now,
            )
        )

    await hub.db.write(unproven_email)
    maria = await (await browser_factory()).login("maria@example.com")
    agreed = f"/api/customers/{written.customer_id}/agreed-channel"
    status, body = await maria.call("PUT", agreed, {"agreed_channel": "email"})
    assert status == 422, body
    assert "proven" in body["problems"][0]["reason"]
    await maria.call("PUT", agreed, {"agreed_channel": "phone"}, expect=200)
    audited = await hub.db.read(
        lambda conn: conn.execute(
            select(audit_log.c.actor_id, audit_log.c.details).where(
                audit_log.c.action == "customer.agreed_channel"
            )
        ).one()
    )
    assert audited == (maria.agent["id"], {"from": None, "to": "phone"})


async def test_the_panel_sets_the_agreed_channel_and_the_composer_follows(
    hub: Hub, server, context, browser_factory
):
    await add_agent(hub, EMAIL, name="Maria")
    await add_agent(hub, "admin@example.com", role="admin")
    sms = Address("phone", "+447700900123")
    written = await hub.ingest(
        InboundMessage(channel="sms", external_id="s1", sender=sms, text="hi", sender_name="Lena")
    )
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.post(
        f"/api/admin/customers/{written.customer_id}/identities",
        {"kind": "email", "address": "lena@example.org"},
    )
    page = await context.new_page()
    await open_inbox(page, server)
    await open_conversation(page, written.conversation_id)
    via = page.locator("#reply-identity option:checked")
    await expect(via).to_have_text("phone: +447700900123 (Lena) (where they last wrote)")
    await page.get_by_test_id("panel-agreed").select_option("email")
    await expect(via).to_contain_text("lena@example.org (agreed)")
    customer = await admin.get(f"/api/admin/customers/{written.customer_id}")
    assert customer["agreed_channel"] == "email"
