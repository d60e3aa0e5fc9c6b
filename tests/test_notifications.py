"""Notifications where the agent is: batched, within their hours, durable, on their channel.

A real SMTP peer receives the email notifications; the notifier's passes are
run by the test (``hub.notifier.run_due``) with the hub's clock moved by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import select

from config import Settings
from config.schema import HoursSettings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.contact import AGENT_SCOPE, write_hours
from hub.db.schema import agent_notices, conversations, notice_batches
from hub.notices import NoticeKind
from hub.notifier import PLAN_EVERY, next_due_at
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.support.smtp import SmtpPeer

TUESDAY_NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MARIA = "maria@example.com"
MARIA_MAIL = "maria.private@example.net"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TUESDAY_NOON)


@pytest.fixture
def settings(database_url: str, relay: SmtpPeer) -> Settings:
    return make_settings(
        database_url,
        channels=[
            {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", "identity_kind": "phone"},
            {
                "kind": "email",
                "name": "mail",
                "address": "support@shop.example",
                "smtp_out": {"host": "127.0.0.1", "port": relay.port, "security": "none"},
                "authentication": {"check": False},
            },
        ],
        outbox={"base_delay_seconds": 10, "max_delay_seconds": 10, "max_attempts": 3},
    )


def sms(phone: str, external_id: str, text: str = "hello") -> InboundMessage:
    return InboundMessage("sms", external_id, Address("phone", phone), text)


EMAIL_SETTINGS = {"channel": "email", "via": "mail", "address": MARIA_MAIL}


@pytest.fixture
async def maria(hub: Hub, browser_factory):
    """Maria, the only agent, signed in, with email notifications on."""
    agent_id = await add_agent(hub, MARIA, name="Maria")
    browser = await (await browser_factory()).login(MARIA)
    await browser.call("PUT", "/api/me/notifications", EMAIL_SETTINGS, expect=200)
    return agent_id, browser


def batches(conn) -> list:
    return list(conn.execute(select(notice_batches).order_by(notice_batches.c.id)))


async def test_email_notification_batches_customers_and_counts(
    hub: Hub, maria, relay: SmtpPeer, clock: FakeClock
):
    await hub.ingest(sms("+491701", "1", "Where is my order 1234?\nSecond line"))
    await hub.ingest(sms("+491701", "2", "hello?"))
    await hub.ingest(sms("+491702", "3", "Refund please"))
    assert await hub.notifier.run_due() == 1
    assert len(relay.received) == 1, "three messages, one notification"
    left = await hub.db.read(lambda conn: conn.execute(select(agent_notices.c.id)).all())
    assert left == [], "the notification replaces its notices (no table growing forever)"
    mail = relay.received[0]
    assert mail.rcpt_tos == [MARIA_MAIL]
    assert mail.message["Subject"] == "3 updates from 2 customers in the support inbox"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["X-Auto-Response-Suppress"] == "All"
    body = mail.message.get_content()
    assert "+491701 (2)" in body
    assert "+491702" in body
    assert "order 1234" not in body, "text: none by default"
    assert "Refund" not in body
    await hub.ingest(sms("+491703", "4", "one more"))
    assert await hub.notifier.run_due() == 0, "within the batch window nothing more is sent"
    clock.advance(minutes=5)
    assert await hub.notifier.run_due() == 1
    assert len(relay.received) == 2
    assert "+491703" in relay.received[1].message.get_content()


async def test_text_setting_limits_what_is_shown(hub: Hub, maria, relay: SmtpPeer):
    _agent_id, browser = maria
    await browser.call(
        "PUT",
        "/api/me/notifications",
        {**EMAIL_SETTINGS, "text": "first_line", "excerpt_chars": 12},
        expect=200,
    )
    await hub.ingest(sms("+491701", "1", "Where is my order 1234?\nSecret second line"))
    await hub.notifier.run_due()
    body = relay.received[0].message.get_content()
    assert "+491701: Where is my…" in body
    assert "order 1234" not in body
    assert "Secret" not in body


async def test_nothing_outside_the_agents_hours_then_sent_at_their_opening(
    hub: Hub, maria, relay: SmtpPeer, clock: FakeClock
):
    agent_id, _browser = maria
    hours = HoursSettings(zone="UTC", weekly={"tue": ["14:00-18:00"]})
    await hub.db.write(lambda tx: write_hours(tx, AGENT_SCOPE, str(agent_id), hours))
    await hub.ingest(sms("+491701", "1"))
    assert await hub.notifier.run_due() == 0
    assert relay.received == []
    waiting = await hub.db.read(
        lambda conn: conn.execute(select(agent_notices.c.send_after)).scalar_one()
    )
    assert waiting == datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    clock.set(datetime(2026, 3, 10, 13, 59, tzinfo=UTC))
    assert await hub.notifier.run_due() == 0
    assert relay.received == []
    clock.set(datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    assert await hub.notifier.run_due() == 1
    assert len(relay.received) == 1


async def test_failing_peer_is_retried_and_customer_traffic_flows(
    hub: Hub, maria, relay: SmtpPeer, clock: FakeClock
):
    relay.answer_data("451 4.3.0 try later")
    await hub.ingest(sms("+491701", "1"))
    assert await hub.notifier.run_due() == 1
    assert relay.received == []
    (failed,) = await hub.db.read(batches)
    assert failed.state == "pending"
    assert failed.attempts == 1
    assert "451" in failed.last_error
    stored = await hub.ingest(sms("+491702", "2", "still served while the relay fails"))
    assert not stored.duplicate
    clock.advance(seconds=10)
    assert await hub.notifier.run_due() == 1
    assert len(relay.received) == 1
    (sent,) = await hub.db.read(batches)
    assert sent.state == "sent"
    assert sent.attempts == 2


async def test_permanent_refusal_gives_up(hub: Hub, maria, relay: SmtpPeer, clock: FakeClock):
    relay.answer_rcpt("550 5.1.1 user unknown")
    await hub.ingest(sms("+491701", "1"))
    await hub.notifier.run_due()
    (failed,) = await hub.db.read(batches)
    assert failed.state == "failed"
    assert "550" in failed.last_error


async def test_open_inbox_or_read_conversation_means_no_notification(
    hub: Hub, maria, relay: SmtpPeer, clock: FakeClock
):
    agent_id, browser = maria
    with hub.bus.subscribe(agent_id):
        await hub.ingest(sms("+491701", "1"))
        assert await hub.notifier.run_due() == 0
    first = await hub.ingest(sms("+491702", "2"))
    await browser.call("POST", f"/api/conversations/{first.conversation_id}/read", expect=204)
    unread = await hub.db.read(
        lambda conn: conn.execute(
            select(conversations.c.unread_count).where(conversations.c.id == first.conversation_id)
        ).scalar_one()
    )
    assert unread == 0
    assert await hub.notifier.run_due() == 0
    assert relay.received == []
    assert await hub.db.read(lambda conn: conn.execute(select(agent_notices)).all()) == []


async def test_kinds_switched_off_or_no_channel_send_nothing(hub: Hub, maria, relay: SmtpPeer):
    _agent_id, browser = maria
    off = {**EMAIL_SETTINGS, "kinds": {"new_message": False}}
    await browser.call("PUT", "/api/me/notifications", off, expect=200)
    await hub.ingest(sms("+491701", "1"))
    assert await hub.notifier.run_due() == 0
    await browser.call("PUT", "/api/me/notifications", {"channel": "none"}, expect=200)
    await hub.ingest(sms("+491701", "2"))
    assert await hub.notifier.run_due() == 0
    assert relay.received == []


async def test_backup_hears_as_backup(hub: Hub, maria, browser_factory):
    maria_id, maria_browser = maria
    tom_id = await add_agent(hub, "tom@example.com")
    tom = await (await browser_factory()).login("tom@example.com")
    await tom.call("PUT", "/api/me/notifications", {**EMAIL_SETTINGS, "address": "t@ex.net"})
    await hub.ingest(sms("+491701", "1"))
    await maria_browser.call("PATCH", "/api/me/status", {"away": True, "backup_id": tom_id})
    await hub.ingest(sms("+491701", "2"))
    kinds = await hub.db.read(
        lambda conn: conn.execute(
            select(agent_notices.c.agent_id, agent_notices.c.kind).order_by(agent_notices.c.id)
        ).all()
    )
    assert [tuple(k) for k in kinds] == [
        (maria_id, NoticeKind.NEW_MESSAGE.value),
        (tom_id, NoticeKind.BACKUP_MESSAGE.value),
    ]


async def test_failed_reply_tells_its_author(hub: Hub, maria, relay: SmtpPeer):
    agent_id, browser = maria
    stored = await hub.ingest(
        InboundMessage("mail", "<m1@example.org>", Address("email", "lena@example.org"), "hi")
    )
    relay.answer_rcpt("550 5.1.1 user unknown")
    await browser.call(
        "POST", f"/api/conversations/{stored.conversation_id}/replies", {"text": "Hi"}, expect=202
    )
    await hub.outbox.run_due()
    failed = await hub.db.read(
        lambda conn: conn.execute(
            select(agent_notices.c.agent_id).where(
                agent_notices.c.kind == NoticeKind.DELIVERY_FAILED.value
            )
        ).all()
    )
    assert [row.agent_id for row in failed] == [agent_id]


async def test_settings_api_validates_and_needs_csrf(hub: Hub, maria):
    _agent_id, browser = maria
    status, body = await browser.call("GET", "/api/me/notifications")
    assert status == 200
    assert body["channel"] == "email"
    assert body["address"] == MARIA_MAIL
    assert body["channels"] == {"email": ["mail"], "slack": [], "telegram": []}
    status, body = await browser.call(
        "PUT", "/api/me/notifications", {**EMAIL_SETTINGS, "via": "sms"}
    )
    assert status == 422
    assert "no email channel" in body["error"]
    status, _ = await browser.call("PUT", "/api/me/notifications", {"channel": "pager"})
    assert status == 422
    injected = {**EMAIL_SETTINGS, "address": "a@b.c\nBcc: all@example.com"}
    status, _ = await browser.call("PUT", "/api/me/notifications", injected)
    assert status == 422
    for two in ("me@corp.example,leak@evil.example", "me@corp.example;x@evil.example"):
        status, body = await browser.call(
            "PUT", "/api/me/notifications", {**EMAIL_SETTINGS, "address": two}
        )
        assert status == 422, "one address, not a list of recipients"
        assert body["error"].startswith("address:")
    browser.csrf = None
    status, _ = await browser.call("PUT", "/api/me/notifications", {"channel": "none"})
    assert status == 403
    status, body = await browser.call("POST", "/api/me/notifications/telegram-code")
    assert status in (403, 409)


async def test_a_stream_of_notices_does_not_make_the_notifier_spin(hub: Hub, maria, clock):
    await hub.ingest(sms("+491701", "1"))
    due = await hub.db.read(partial(next_due_at, PLAN_EVERY, clock.now()))
    assert due == clock.now() + PLAN_EVERY


async def test_no_notice_is_queued_for_an_agent_without_notifications(hub: Hub, maria):
    _agent_id, browser = maria
    await browser.call("PUT", "/api/me/notifications", {"channel": "none"}, expect=200)
    await hub.ingest(sms("+491701", "1"))
    assert await hub.db.read(lambda conn: conn.execute(select(agent_notices)).all()) == []
