"""Demo data for a first look: an admin, two agents, a few customers with conversations."""

from __future__ import annotations

from functools import partial

from sqlalchemy import func, select

from connectors.base import Address, InboundMessage, Link, Proof
from hub.app import Hub
from hub.auth import Principal
from hub.conversations import post_note, post_reply
from hub.db.schema import agents
from hub.demo_accounts import record_demo_seed
from hub.team import create_agent

DEMO_LOGINS = (
    ("admin@example.com", "admin-demo", "admin"),
    ("maria@example.com", "maria-demo", "agent"),
    ("tom@example.com", "tom-demo", "agent"),
)
NAMES = {"admin@example.com": "Ada Admin", "maria@example.com": "Maria", "tom@example.com": "Tom"}

CUSTOMER_MESSAGES = (
    ("Lena Fischer", "lena@example.org", "Hi! My order #1042 has not arrived yet, can you check?"),
    ("Sam Okafor", "sam@example.net", "Do you ship to Norway?"),
    ("Lena Fischer", "lena@example.org", "Also, can I change the delivery address?"),
    ("Priya Raman", None, "Is the blue jacket available in size M?"),
)


async def seed_demo(hub: Hub) -> bool:
    """Add the demo data once; ``False`` if the database already has agents."""
    if await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(agents)).scalar()
    ):
        return False
    hashes = {email: await hub.passwords.hash(password) for email, password, _ in DEMO_LOGINS}
    ids = {}
    for email, _, role in DEMO_LOGINS:
        if role != "admin":
            ids[email] = await create_demo_agent(hub, email, hashes[email], role)
    await seed_conversations(hub, ids)
    # The admin comes last: the first-contact policy gives customers to any
    # available agent, and the demo customers belong to Maria and Tom.
    for email, _, role in DEMO_LOGINS:
        if role == "admin":
            await create_demo_agent(hub, email, hashes[email], role)
    await hub.db.write(partial(record_demo_seed, hashes))
    return True


async def create_demo_agent(hub: Hub, email: str, password_hash: str, role: str) -> int:
    agent = await hub.db.write(
        partial(create_agent, None, email, NAMES[email], password_hash, role)
    )
    return agent["id"]


async def seed_conversations(hub: Hub, ids: dict[str, int]) -> None:
    channel = next((n for n, c in hub.connectors.items() if c.kind == "webchat"), None)
    if channel is None:
        return
    results = []
    for number, (name, email, text) in enumerate(CUSTOMER_MESSAGES, start=1):
        visitor = "demo-" + name.split()[0].lower()
        results.append(
            await hub.ingest(
                InboundMessage(
                    channel=channel,
                    external_id=f"demo-{number}",
                    sender=Address("webchat", visitor),
                    sender_name=name,
                    text=text,
                    linked=(Link(Address("email", email), Proof.SIGNED),) if email else (),
                )
            )
        )
    maria = Principal(ids["maria@example.com"], "Maria", "agent", "", via_cookie=False)
    first = results[0].conversation_id
    await hub.db.write(partial(post_note, maria, first, "Order #1042 left the warehouse Monday."))
    await hub.db.write(
        partial(
            post_reply,
            maria,
            first,
            "Hi Lena, it is on its way and should arrive tomorrow.",
            None,
            hub.channels_by_kind,
        )
    )
