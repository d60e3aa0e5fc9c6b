"""Tags on conversations: admins keep the list, agents tag what they may see, the inbox
filters by tag; every change audited and told to the inboxes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from hub.app import Hub
from hub.db.schema import audit_log, conversations, events
from hub.tags import tags_of
from tests.support.hubs import Browser, signed_in_team
from tests.support.messages import chat

TAGS = "/api/admin/tags"


@pytest.fixture
async def people(hub: Hub, browser_factory) -> dict[str, Browser]:
    return await signed_in_team(hub, browser_factory)


async def conversation_of(hub: Hub, people: dict[str, Browser], owner: str, visitor: str) -> int:
    """A new conversation whose customer ``owner`` owns."""
    started = await hub.ingest(chat(visitor, f"{visitor}-1", "hello", sender_name=visitor))
    body = {"owner_id": people[owner].agent["id"]}
    await people["admin"].patch(f"/api/admin/customers/{started.customer_id}", body, expect=200)
    return started.conversation_id


async def audit(hub: Hub, prefix: str) -> list[tuple[str, int | None, int, dict[str, Any]]]:
    rows = await hub.db.read(
        lambda conn: conn.execute(
            select(
                audit_log.c.action,
                audit_log.c.actor_id,
                audit_log.c.subject_id,
                audit_log.c.details,
            )
            .where(audit_log.c.action.startswith(prefix))
            .order_by(audit_log.c.id)
        ).all()
    )
    return [tuple(row) for row in rows]


async def event_payloads(hub: Hub, kind: str) -> list[tuple[int | None, dict[str, Any]]]:
    rows = await hub.db.read(
        lambda conn: conn.execute(
            select(events.c.agent_id, events.c.payload)
            .where(events.c.kind == kind)
            .order_by(events.c.id)
        ).all()
    )
    return [tuple(row) for row in rows]


async def test_admins_create_rename_recolour_and_list_tags(hub: Hub, people):
    admin = people["admin"]
    vip = await admin.post(TAGS, {"name": " VIP ", "colour": "#D62728"}, expect=201)
    assert vip == {"id": vip["id"], "name": "VIP", "colour": "#d62728"}
    billing = await admin.post(TAGS, {"name": "billing", "colour": "#1f77b4"}, expect=201)
    assert [t["name"] for t in await admin.get(TAGS)] == ["billing", "VIP"], "by name, any case"
    assert await people["maria"].get("/api/tags") == await admin.get(TAGS)

    renamed = await admin.patch(f"{TAGS}/{vip['id']}", {"name": "Key account"}, expect=200)
    assert renamed == {**vip, "name": "Key account"}
    recoloured = await admin.patch(f"{TAGS}/{vip['id']}", {"colour": "#2CA02C"}, expect=200)
    assert recoloured == {**vip, "name": "Key account", "colour": "#2ca02c"}
    assert await admin.patch(f"{TAGS}/{vip['id']}", {}, expect=200) == recoloured

    admin_id = admin.agent["id"]
    assert await audit(hub, "tag.") == [
        ("tag.created", admin_id, vip["id"], {"name": "VIP", "colour": "#d62728"}),
        ("tag.created", admin_id, billing["id"], {"name": "billing", "colour": "#1f77b4"}),
        (
            "tag.updated",
            admin_id,
            vip["id"],
            {"before": vip, "after": {**vip, "name": "Key account"}},
        ),
        ("tag.updated", admin_id, vip["id"], {"before": renamed, "after": recoloured}),
    ]
    told = await event_payloads(hub, "tags.changed")
    assert [agent for agent, _ in told] == [None] * 4, "every agent's inbox is told"
    assert told[-1][1] == {"tag": recoloured, "deleted": False}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "red", "colour": "red"}, "colour"),
        ({"name": "red", "colour": "#ff000"}, "colour"),
        ({"name": "red", "colour": "#ff0000;background:url(x)"}, "colour"),
        ({"name": "x" * 41, "colour": "#ff0000"}, "name"),
        ({"name": "   ", "colour": "#ff0000"}, "name"),
        ({"name": "red"}, "colour"),
    ],
)
async def test_bad_names_and_colours_are_refused_with_the_field_named(
    hub: Hub, people, body, field
):
    status, answer = await people["admin"].call("POST", TAGS, body)
    assert status == 422
    assert [problem["field"] for problem in answer["problems"]] == [field]
    assert await people["admin"].get(TAGS) == []


async def test_a_name_taken_in_any_case_is_a_conflict(hub: Hub, people):
    admin = people["admin"]
    vip = await admin.post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    other = await admin.post(TAGS, {"name": "Billing", "colour": "#1f77b4"}, expect=201)
    status, answer = await admin.call("POST", TAGS, {"name": "vip", "colour": "#000000"})
    assert (status, answer["tag_id"]) == (409, vip["id"])
    assert "already exists" in answer["error"]
    status, answer = await admin.call("PATCH", f"{TAGS}/{other['id']}", {"name": "Vip"})
    assert (status, answer["tag_id"]) == (409, vip["id"])
    same = await admin.patch(f"{TAGS}/{vip['id']}", {"name": "vip"}, expect=200)
    assert same["name"] == "vip", "a tag may change the case of its own name"
    await admin.call("PATCH", f"{TAGS}/999", {"name": "new"}, expect=404)
    await admin.call("DELETE", f"{TAGS}/999", expect=404)


async def test_only_admins_manage_the_list(hub: Hub, people):
    maria = people["maria"]
    tag = await people["admin"].post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    await maria.call("GET", TAGS, expect=403)
    await maria.call("POST", TAGS, {"name": "mine", "colour": "#000000"}, expect=403)
    await maria.call("PATCH", f"{TAGS}/{tag['id']}", {"name": "mine"}, expect=403)
    await maria.call("DELETE", f"{TAGS}/{tag['id']}", expect=403)
    assert await people["admin"].get(TAGS) == [tag]


async def test_agents_tag_and_untag_their_conversations_audited_and_told(hub: Hub, people):
    admin, maria = people["admin"], people["maria"]
    vip = await admin.post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    billing = await admin.post(TAGS, {"name": "billing", "colour": "#1f77b4"}, expect=201)
    mine = await conversation_of(hub, people, "maria", "lena")
    path = f"/api/conversations/{mine}/tags"

    assert (await maria.call("PUT", f"{path}/{vip['id']}", expect=200))[1] == [vip]
    both = (await maria.call("PUT", f"{path}/{billing['id']}", expect=200))[1]
    assert both == [billing, vip]
    assert (await maria.call("PUT", f"{path}/{vip['id']}", expect=200))[1] == both, "again: same"
    assert (await maria.get(f"/api/conversations/{mine}"))["tags"] == both
    (listed,) = await maria.get("/api/conversations")
    assert listed["tags"] == both
    assert (await maria.call("DELETE", f"{path}/{vip['id']}", expect=200))[1] == [billing]
    assert (await maria.call("DELETE", f"{path}/{vip['id']}", expect=200))[1] == [billing]

    maria_id = maria.agent["id"]
    assert await audit(hub, "conversation.tag_") == [
        ("conversation.tag_added", maria_id, mine, {"tag_id": vip["id"], "tag": "VIP"}),
        ("conversation.tag_added", maria_id, mine, {"tag_id": billing["id"], "tag": "billing"}),
        ("conversation.tag_removed", maria_id, mine, {"tag_id": vip["id"], "tag": "VIP"}),
    ], "only changes are audited"
    told = await event_payloads(hub, "conversation.tags")
    assert [payload["tags"] for _, payload in told] == [[vip], both, [billing]]
    assert {agent for agent, _ in told} == {maria_id}


async def test_agents_cannot_tag_conversations_they_cannot_see_nor_invent_tags(hub: Hub, people):
    admin, maria, tom = people["admin"], people["maria"], people["tom"]
    vip = await admin.post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    toms = await conversation_of(hub, people, "tom", "omar")
    await tom.call("PUT", f"/api/conversations/{toms}/tags/{vip['id']}", expect=200)

    for method in ("PUT", "DELETE"):
        status, answer = await maria.call(method, f"/api/conversations/{toms}/tags/{vip['id']}")
        assert status == 403, answer
        await maria.call(method, f"/api/conversations/99999/tags/{vip['id']}", expect=404)
    status, answer = await tom.call("PUT", f"/api/conversations/{toms}/tags/99999")
    assert status == 404
    assert "admin adds tags" in answer["error"]
    assert (await tom.get(f"/api/conversations/{toms}"))["tags"] == [vip], "untouched"
    assert await audit(hub, "conversation.tag_removed") == []
    await admin.call("DELETE", f"/api/conversations/{toms}/tags/{vip['id']}", expect=200)


async def test_the_inbox_list_filters_by_tag_within_what_i_may_see(hub: Hub, people):
    admin, maria = people["admin"], people["maria"]
    vip = await admin.post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    other = await admin.post(TAGS, {"name": "billing", "colour": "#1f77b4"}, expect=201)
    lena = await conversation_of(hub, people, "maria", "lena")
    await conversation_of(hub, people, "maria", "ida")
    omar = await conversation_of(hub, people, "tom", "omar")
    await maria.call("PUT", f"/api/conversations/{lena}/tags/{vip['id']}", expect=200)
    await people["tom"].call("PUT", f"/api/conversations/{omar}/tags/{vip['id']}", expect=200)

    async def ids(browser: Browser, query: str) -> set[int]:
        return {c["id"] for c in await browser.get(f"/api/conversations?{query}")}

    assert await ids(maria, f"tag={vip['id']}") == {lena}, "never another agent's"
    assert await ids(maria, f"tag={other['id']}") == set()
    assert await ids(maria, f"tag={vip['id']}&state=resolved") == set()
    assert await ids(maria, f"tag={vip['id']}&q=lena") == {lena}
    assert await ids(admin, f"tag={vip['id']}&scope=all") == {lena, omar}
    for wrong in ("first", "0", "9" * 20):
        await maria.call("GET", f"/api/conversations?tag={wrong}", expect=422)


async def test_deleting_a_tag_in_use_takes_it_off_every_conversation(hub: Hub, people):
    admin, maria = people["admin"], people["maria"]
    vip = await admin.post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    kept = await admin.post(TAGS, {"name": "billing", "colour": "#1f77b4"}, expect=201)
    lena = await conversation_of(hub, people, "maria", "lena")
    ida = await conversation_of(hub, people, "maria", "ida")
    for conversation_id in (lena, ida):
        await maria.call(
            "PUT", f"/api/conversations/{conversation_id}/tags/{vip['id']}", expect=200
        )
    await maria.call("PUT", f"/api/conversations/{lena}/tags/{kept['id']}", expect=200)

    deleted = await admin.call("DELETE", f"{TAGS}/{vip['id']}", expect=200)
    assert deleted[1] == {"id": vip["id"], "deleted": True}
    assert await admin.get(TAGS) == [kept]
    found = await hub.db.read(lambda conn: tags_of(conn, [lena, ida, 12345]))
    assert found == {lena: [kept], ida: [], 12345: []}
    assert await audit(hub, "tag.deleted") == [
        ("tag.deleted", admin.agent["id"], vip["id"], {"name": "VIP", "removed_from": [lena, ida]})
    ]
    assert (await event_payloads(hub, "tags.changed"))[-1] == (
        None,
        {"tag": vip, "deleted": True},
    )
    await maria.call("PUT", f"/api/conversations/{lena}/tags/{vip['id']}", expect=404)


async def test_merging_customers_keeps_the_tags_of_both_open_conversations(hub: Hub, people):
    admin = people["admin"]
    vip = await admin.post(TAGS, {"name": "VIP", "colour": "#d62728"}, expect=201)
    billing = await admin.post(TAGS, {"name": "billing", "colour": "#1f77b4"}, expect=201)
    kept = await conversation_of(hub, people, "maria", "lena")
    folded = await conversation_of(hub, people, "maria", "lena-phone")
    await admin.call("PUT", f"/api/conversations/{kept}/tags/{vip['id']}", expect=200)
    for tag in (vip, billing):
        await admin.call("PUT", f"/api/conversations/{folded}/tags/{tag['id']}", expect=200)
    customers = await hub.db.read(
        lambda conn: {
            c: conn.execute(
                select(conversations.c.customer_id).where(conversations.c.id == c)
            ).scalar()
            for c in (kept, folded)
        }
    )
    body = {"merge_customer_id": customers[folded]}
    await admin.post(f"/api/admin/customers/{customers[kept]}/merge", body, expect=200)

    tagged = await hub.db.read(lambda conn: tags_of(conn, [kept, folded]))
    assert [t["name"] for t in tagged[kept]] == ["billing", "VIP"]
    assert tagged[folded] == []
