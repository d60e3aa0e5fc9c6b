"""One customer with a bit of everything, for the export and erasure tests.

Lena writes by email through the hub's real SMTP receiver (three files attached, one
named to climb out of a folder, two with one name) and on the web chat, where she also
types an address she never proves (a claim; she asks for a code to it, as does another
visitor for theirs); a second web chat visitor of hers is merged
in by an admin.
Maria, her owner, writes a note, a reply that is sent, and one waiting for Lena's New
York hours; she is notified by email of what Lena and Omar wrote. Omar, another
customer, is there to stay untouched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from functools import partial
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage
from connectors.verification import CodeRequest
from hub.app import Hub
from hub.db.schema import metadata
from hub.notice_batches import plan_batches
from tests.conftest import ENVIRON
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, add_agent, started_hub
from tests.support.messages import chat

SUPPORT = "support@shop.example"
LENA_MAIL = "lena@example.org"
CLAIMED = "lena.private@example.net"
NEW_YORK_OFFICE = {
    "zone": "America/New_York",
    "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}
INVOICE = b"%PDF-1.4 Lena's invoice"
PHOTOS = (b"\x89PNG Lena's photo", b"\x89PNG another photo, same name")
LENA_TEXTS = (
    "My parcel 4711 never came",
    "Hello from the chat, it is Lena",
    "Second browser, same Lena",
    "Lena lives at Gartenweg 5",
    "We sent a new parcel",
    "Tomorrow at nine we call you",
)
"""Everything written by or about Lena (the note is the fourth)."""


def privacy_settings(database_url: str, relay_port: int) -> Settings:
    data: dict[str, object] = {
        "database": {"url": database_url},
        "channels": [
            {"kind": "webchat", "name": "webchat"},
            {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", "identity_kind": "phone"},
            {
                "kind": "email",
                "name": "mail",
                "address": SUPPORT,
                "smtp_in": {"host": "127.0.0.1", "port": 0},
                "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
                "authentication": {"check": False},
            },
        ],
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


@pytest.fixture
async def hub(database_url: str, clock: FakeClock, relay: Any) -> AsyncIterator[Hub]:
    async with started_hub(privacy_settings(database_url, relay.port), clock) as hub:
        yield hub


@dataclass
class Story:
    admin: Browser
    maria: Browser
    lena_id: int
    lena_conversation: int
    omar_id: int
    omar_conversation: int
    sent_reply: int
    scheduled_reply: int
    email_message: int


def lena_mail() -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Lena Fischer <{LENA_MAIL}>"
    mail["To"] = SUPPORT
    mail["Subject"] = "Parcel 4711"
    mail["Message-ID"] = make_msgid(domain="example.org")
    mail.set_content(LENA_TEXTS[0])
    mail.add_attachment(
        INVOICE, maintype="application", subtype="pdf", filename="../../etc/invoice 2026.pdf"
    )
    for photo in PHOTOS:
        mail.add_attachment(photo, maintype="image", subtype="png", filename="photo.png")
    return mail


async def send_lena_mail(hub: Hub) -> None:
    port = hub.connectors["mail"].smtp_port  # type: ignore[attr-defined]
    await aiosmtplib.send(
        lena_mail(), hostname="127.0.0.1", port=port, sender=LENA_MAIL, recipients=[SUPPORT]
    )


async def tell_story(hub: Hub, browser_factory: Any) -> Story:
    await add_agent(hub, "admin@example.com", role="admin", name="Ada")
    await add_agent(hub, "maria@example.com", name="Maria")
    admin = await (await browser_factory()).login("admin@example.com")
    maria = await (await browser_factory()).login("maria@example.com")
    await admin.patch("/api/me/status", {"away": True}, expect=200)
    notify = {"channel": "email", "via": "mail", "address": "maria@example.com", "text": "full"}
    await maria.call("PUT", "/api/me/notifications", notify, expect=200)

    await send_lena_mail(hub)
    (lena,) = await admin.get("/api/admin/customers?q=lena@example.org")
    await admin.post(
        f"/api/admin/customers/{lena['id']}/identities",
        {"kind": "webchat", "address": "visitor-lena"},
        expect=201,
    )
    claimed = (Address("email", CLAIMED),)
    await hub.ingest(chat("visitor-lena", "w1", LENA_TEXTS[1], claimed=claimed))
    for visitor, address in (("visitor-lena", CLAIMED), ("visitor-ida", "ida@example.com")):
        await hub.verifier.send_code(CodeRequest("webchat", visitor, address, "127.0.0.1"))
    second = await hub.ingest(chat("visitor-lena-2", "w2", LENA_TEXTS[2], sender_name="Lena F"))
    await admin.post(
        f"/api/admin/customers/{lena['id']}/merge",
        {"merge_customer_id": second.customer_id},
        expect=200,
    )
    omar = await hub.ingest(
        InboundMessage(
            channel="sms",
            external_id="s1",
            sender=Address("phone", "+4915100777"),
            text="Do you sell gift cards?",
            sender_name="Omar",
        )
    )
    maria_id = maria.agent["id"]
    for customer in (lena["id"], omar.customer_id):
        await admin.patch(f"/api/admin/customers/{customer}", {"owner_id": maria_id}, expect=200)
    assert await hub.db.write(partial(plan_batches, frozenset(), timedelta(0), "/")) == 1
    (conversation,) = await admin.get(f"/api/conversations?scope=all&q={LENA_MAIL}")
    path = f"/api/conversations/{conversation['id']}"
    await maria.post(path + "/notes", {"text": LENA_TEXTS[3]}, expect=201)
    await maria.post(
        f"/api/conversations/{omar.conversation_id}/notes", {"text": "Omar likes tea"}, expect=201
    )
    sent = await maria.post(path + "/replies", {"text": LENA_TEXTS[4]}, expect=202)
    assert await hub.outbox.run_due() == 1, "sent to her widget: a broadcast event is stored"
    await maria.call(
        "PUT", f"/api/customers/{lena['id']}/contact-hours", {"hours": NEW_YORK_OFFICE}, expect=200
    )
    waiting = await maria.post(path + "/replies", {"text": LENA_TEXTS[5]}, expect=202)
    assert waiting["state"] == "scheduled"
    detail = await maria.get(path)
    (email_message,) = [m for m in detail["messages"] if m["channel"] == "mail"]
    return Story(
        admin,
        maria,
        lena["id"],
        conversation["id"],
        omar.customer_id,
        omar.conversation_id,
        sent["id"],
        waiting["id"],
        email_message["id"],
    )


async def every_row(hub: Hub) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, by table name."""

    def load(conn: Any) -> dict[str, list[dict[str, Any]]]:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(select(table))]
            for table in metadata.sorted_tables
        }

    return await hub.db.read(load)
