"""Owner routing end to end: first contact, backups, waiting, reassignment, merging."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from sqlalchemy import func, select

from hub.app import Hub
from hub.db.schema import conversations, customers, messages
from hub.team import update_agent
from tests.support.hubs import add_agent
from tests.support.messages import chat


@pytest.fixture
async def people(hub: Hub, browser_factory):
    ids = {"admin": await add_agent(hub, "admin@example.com", role="admin")}
    await hub.db.write(partial(update_agent, ids["admin"], ids["admin"], {"away": True}))
    ids["maria"] = await add_agent(hub, "maria@example.com")
    ids["tom"] = await add_agent(hub, "tom@example.com")
    browsers = {n: await (await browser_factory()).login(f"{n}@example.com") for n in ids}
    return ids, browsers


async def handling(hub: Hub, customer_id: int) -> tuple[int | None, int | None]:
    """(owner, assignee of the open conversation) of a customer."""
    return await hub.db.read(
        lambda conn: tuple(
            conn.execute(
                select(customers.c.owner_id, conversations.c.assignee_id)
                .outerjoin(
                    conversations,
                    (conversations.c.customer_id == customers.c.id)
                    & (conversations.c.state == "open"),
                )
                .where(customers.c.id == customer_id)
            ).one()
        )
    )


async def test_first_contact_fewest_open_then_round_robin_and_owner_kept(hub: Hub, people):
    ids, browsers = people
    maria, tom = ids["maria"], ids["tom"]
    a = await hub.ingest(chat("a", "1"))
    assert (await handling(hub, a.customer_id))[0] == maria
    await browsers["maria"].post(f"/api/conversations/{a.conversation_id}/resolve", expect=200)
    b = await hub.ingest(chat("b", "2"))
    assert (await handling(hub, b.customer_id))[0] == tom, "a tie goes to the next in turn"
    c = await hub.ingest(chat("c", "3"))
    assert (await handling(hub, c.customer_id))[0] == maria, "fewest open conversations"
    d = await hub.ingest(chat("d", "4"))
    assert (await handling(hub, d.customer_id))[0] == tom, "a tie goes to the next in turn"
    e = await hub.ingest(chat("e", "5"))
    assert (await handling(hub, e.customer_id))[0] == maria
    again = await hub.ingest(chat("b", "6", "back again"))
    assert again.customer_id == b.customer_id
    assert await handling(hub, b.customer_id) == (tom, tom)
    a_again = await hub.ingest(chat("a", "7", "new question after resolve"))
    assert a_again.conversation_id != a.conversation_id
    assert await handling(hub, a.customer_id) == (maria, maria), "the owner is kept"


async def test_backup_covers_away_owner_without_taking_ownership(hub: Hub, people):
    ids, browsers = people
    maria, tom = ids["maria"], ids["tom"]
    first = await hub.ingest(chat("a", "1"))
    assert await handling(hub, first.customer_id) == (maria, maria)
    await browsers["maria"].patch("/api/me/status", {"away": True, "backup_id": tom}, expect=200)
    assert await handling(hub, first.customer_id) == (maria, tom)
    await hub.ingest(chat("a", "2", "anyone there?"))
    assert await handling(hub, first.customer_id) == (maria, tom)
    toms = await browsers["tom"].get("/api/conversations")
    assert [c["id"] for c in toms] == [first.conversation_id]
    assert toms[0]["owner_id"] == maria
    await browsers["maria"].patch("/api/me/status", {"away": False}, expect=200)
    assert await handling(hub, first.customer_id) == (maria, maria)
    assert await browsers["tom"].get("/api/conversations") == []


async def test_customer_backup_wins_over_owner_backup(hub: Hub, people):
    ids, browsers = people
    first = await hub.ingest(chat("a", "1"))
    await browsers["admin"].patch(
        f"/api/admin/customers/{first.customer_id}", {"backup_id": ids["admin"]}, expect=200
    )
    await browsers["admin"].patch("/api/me/status", {"away": False}, expect=200)
    await browsers["maria"].patch(
        "/api/me/status", {"away": True, "backup_id": ids["tom"]}, expect=200
    )
    assert await handling(hub, first.customer_id) == (ids["maria"], ids["admin"])


async def test_without_backup_the_conversation_waits_for_the_owner(hub: Hub, people):
    ids, browsers = people
    first = await hub.ingest(chat("a", "1"))
    await browsers["maria"].patch("/api/me/status", {"away": True}, expect=200)
    await hub.ingest(chat("a", "2", "still waiting"))
    assert await handling(hub, first.customer_id) == (ids["maria"], None)
    mine = await browsers["maria"].get("/api/conversations?state=waiting")
    assert [c["id"] for c in mine] == [first.conversation_id]
    assert mine[0]["waiting_for_owner"] is True
    assert await browsers["tom"].get("/api/conversations") == []


async def test_admin_reassigns_one_customer_and_it_is_audited(hub: Hub, people, clock):
    ids, browsers = people
    first = await hub.ingest(chat("a", "1"))
    admin = browsers["admin"]
    updated = await admin.patch(
        f"/api/admin/customers/{first.customer_id}", {"owner_id": ids["tom"]}, expect=200
    )
    assert updated["owner_id"] == ids["tom"]
    assert await handling(hub, first.customer_id) == (ids["tom"], ids["tom"])
    audit = await admin.get(
        f"/api/admin/audit?subject_type=customer&subject_id={first.customer_id}"
    )
    change = audit[0]
    assert change["action"] == "owner.changed"
    assert change["actor_id"] == ids["admin"]
    assert change["details"] == {"before": ids["maria"], "after": ids["tom"]}
    assert change["at"] == clock.now().isoformat()
    assert audit[1]["action"] == "owner.assigned"
    assert audit[1]["actor_id"] is None


async def test_bulk_reassign_moves_all_customers_and_open_conversations(hub: Hub, people):
    ids, browsers = people
    maria, tom = ids["maria"], ids["tom"]
    results = [await hub.ingest(chat(f"v{i}", str(i))) for i in range(4)]
    marias = [r.customer_id for r in results if (await handling(hub, r.customer_id))[0] == maria]
    assert len(marias) == 2
    moved = await browsers["admin"].post(
        f"/api/admin/agents/{maria}/reassign", {"to_agent_id": tom}, expect=200
    )
    assert moved["moved_customers"] == marias
    for customer_id in marias:
        assert await handling(hub, customer_id) == (tom, tom)
    audit = await browsers["admin"].get("/api/admin/audit?subject_type=customer")
    bulk = [e for e in audit if e["details"].get("bulk")]
    assert sorted(e["subject_id"] for e in bulk) == marias
    assert all(e["details"]["before"] == maria and e["details"]["after"] == tom for e in bulk)
    assert await browsers["maria"].get("/api/conversations") == []


async def test_merge_keeps_all_history_in_one_open_conversation(hub: Hub, people):
    _, browsers = people
    kept = await hub.ingest(chat("a", "1", "first from a"))
    gone = await hub.ingest(chat("b", "2", "first from b"))
    await hub.ingest(chat("b", "3", "second from b"))
    admin = browsers["admin"]
    await admin.post(
        f"/api/conversations/{gone.conversation_id}/notes", {"text": "note on b"}, expect=201
    )
    merged = await admin.post(
        f"/api/admin/customers/{kept.customer_id}/merge",
        {"merge_customer_id": gone.customer_id},
        expect=200,
    )
    assert {i["address"] for i in merged["identities"]} == {"a", "b"}
    status, _ = await admin.call("GET", f"/api/admin/customers/{gone.customer_id}")
    assert status == 404
    detail = await admin.get(f"/api/conversations/{kept.conversation_id}")
    assert [m["text"] for m in detail["messages"]] == [
        "first from a",
        "first from b",
        "second from b",
        "note on b",
    ]
    assert detail["unread_count"] == 3
    total = await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar_one()
    )
    assert total == 4
    later = await hub.ingest(chat("b", "4", "after the merge"))
    assert later.customer_id == kept.customer_id
    assert later.conversation_id == kept.conversation_id
    audit = await admin.get(f"/api/admin/audit?subject_type=customer&subject_id={kept.customer_id}")
    assert audit[0]["action"] == "customer.merged"
    assert audit[0]["details"]["merged_customer"]["id"] == gone.customer_id


async def test_owner_must_be_an_active_agent(hub: Hub, people):
    ids, browsers = people
    first = await hub.ingest(chat("a", "1"))
    admin = browsers["admin"]
    await admin.patch(f"/api/admin/agents/{ids['tom']}", {"active": False}, expect=200)
    status, body = await admin.call(
        "PATCH", f"/api/admin/customers/{first.customer_id}", json={"owner_id": ids["tom"]}
    )
    assert status == 422
    assert "deactivated" in body["error"]
    status, body = await admin.call(
        "PATCH", f"/api/admin/customers/{first.customer_id}", json={"owner_id": 999}
    )
    assert status == 422
    assert "999" in body["error"]


async def test_message_nobody_can_take_is_told_to_the_admins(hub: Hub, people):
    ids, browsers = people
    for name in ("maria", "tom"):
        await browsers[name].patch("/api/me/status", {"away": True}, expect=200)
    with hub.bus.subscribe(ids["admin"]) as admin_feed:
        result = await hub.ingest(chat("z", "9", "anyone there?"))
        assert await handling(hub, result.customer_id) == (None, None)
        events = await asyncio.wait_for(admin_feed.next_batch(), 5)
    assert [(e.kind, e.payload["message"]["text"]) for e in events] == [
        ("message.created", "anyone there?")
    ]


async def test_my_status_changes_only_what_is_sent(hub: Hub, people):
    ids, browsers = people
    maria = browsers["maria"]
    await maria.patch("/api/me/status", {"away": False, "backup_id": ids["tom"]}, expect=200)
    me = await maria.patch("/api/me/status", {"away": True}, expect=200)
    assert (me["away"], me["backup_id"]) == (True, ids["tom"])
    me = await maria.patch("/api/me/status", {"away": False, "backup_id": None}, expect=200)
    assert (me["away"], me["backup_id"]) == (False, None)


async def test_admin_patches_keep_absent_fields_and_clear_explicit_nulls(hub: Hub, people):
    ids, browsers = people
    admin = browsers["admin"]
    agent = f"/api/admin/agents/{ids['maria']}"
    await admin.patch(agent, {"backup_id": ids["tom"]}, expect=200)
    kept = await admin.patch(agent, {"away": True}, expect=200)
    assert (kept["away"], kept["backup_id"]) == (True, ids["tom"])
    assert (await admin.patch(agent, {"backup_id": None}, expect=200))["backup_id"] is None
    customer = f"/api/admin/customers/{(await hub.ingest(chat('a', '1'))).customer_id}"
    await admin.patch(customer, {"owner_id": ids["tom"], "backup_id": ids["maria"]}, expect=200)
    renamed = await admin.patch(customer, {"name": "Lena"}, expect=200)
    assert (renamed["owner_id"], renamed["backup_id"]) == (ids["tom"], ids["maria"])
    cleared = await admin.patch(customer, {"backup_id": None}, expect=200)
    assert (cleared["name"], cleared["owner_id"], cleared["backup_id"]) == (
        "Lena",
        ids["tom"],
        None,
    )
