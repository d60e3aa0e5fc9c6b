"""Erasing a customer: no row anywhere about them afterwards, the audit kept without content,
everyone else untouched, and their address writing again is somebody new."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from hub.app import Hub
from hub.db.schema import metadata
from hub.outbox_claims import claim_due
from hub.privacy_erase import ERASED_LINE
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.support.privacy import (
    CLAIMED,
    LENA_MAIL,
    LENA_TEXTS,
    Story,
    every_row,
    hub,
    send_lena_mail,
    tell_story,
)
from tests.support.uploads import upload

__all__ = ["hub"]
REFERS_TO = {"customers": "customer", "conversations": "conversation", "messages": "message"}


@pytest.fixture
async def story(hub: Hub, browser_factory: Any) -> Story:
    return await tell_story(hub, browser_factory)


def lena_traces(story: Story) -> list[str]:
    """What would give Lena away in any column of any table."""
    return [
        "Lena Fischer",
        "Lena F",
        LENA_MAIL,
        CLAIMED,
        "visitor-lena",
        *LENA_TEXTS,
        "Lena's invoice",
    ]


def rows_about(rows: dict[str, list[dict[str, Any]]], ids: dict[str, set[int]]) -> list[str]:
    """Rows whose foreign keys point at one of ``ids`` (by referred table), by table."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            for key in column.foreign_keys:
                referred = ids.get(key.column.table.name, set())
                found += [
                    f"{table.name}.{column.name}={row[column.name]}"
                    for row in rows[table.name]
                    if row[column.name] in referred
                ]
    return found


async def test_erasure_leaves_no_row_about_the_customer_and_an_audit_entry_without_content(
    hub: Hub, story: Story
):
    await hub.report_counts.count_all()
    before = await every_row(hub)
    conversation_ids = {
        c["id"] for c in before["conversations"] if c["customer_id"] == story.lena_id
    }
    assert [w for w in before["waits"] if w["conversation_id"] in conversation_ids], "counted"
    ids = {
        "customers": {story.lena_id},
        "conversations": conversation_ids,
        "messages": {
            m["id"] for m in before["messages"] if m["conversation_id"] in conversation_ids
        },
        "identities": {i["id"] for i in before["identities"] if i["customer_id"] == story.lena_id},
    }
    assert rows_about(before, ids), "the story put rows about Lena in other tables"
    assert len(before["verification_codes"]) == 2
    assert any(e["conversation_id"] in conversation_ids for e in before["events"])
    assert "visitor-lena" in json.dumps([e["payload"] for e in before["events"]])
    answer = await story.admin.call(
        "DELETE", f"/api/admin/customers/{story.lena_id}", {"confirm": "Lena Fischer"}, expect=200
    )
    counts = {"identities": 3, "claims": 1, "conversations": 1, "messages": 6, "attachments": 3}
    assert answer[1] == {"customer_id": story.lena_id, "deleted": counts}

    after = await every_row(hub)
    assert rows_about(after, ids) == []
    assert not [e for e in after["events"] if e["conversation_id"] in conversation_ids]
    assert not [h for h in after["contact_hours"] if h["subject"] == str(story.lena_id)]
    everything = json.dumps(after, default=str)
    for trace in lena_traces(story):
        assert trace not in everything, f"{trace!r} is still stored"
    deleted = [a for a in after["audit_log"] if a["action"] == "customer.deleted"]
    assert [(a["subject_id"], a["actor_id"]) for a in deleted] == [
        (story.lena_id, story.admin.agent["id"])
    ]
    assert {k: deleted[0]["details"][k] for k in counts} == counts
    assert [(c["visitor"], c["address"]) for c in after["verification_codes"]] == [
        ("visitor-ida", "ida@example.com")
    ]
    (notification,) = after["notice_batches"]
    lines = notification["text"].split("\n")
    assert ERASED_LINE in lines
    assert "- Omar: Do you sell gift cards?" in lines, "only her line goes"
    scrubbed = [a for a in after["audit_log"] if "erased_at" in a["details"]]
    assert {a["action"] for a in scrubbed} == {"identity.added", "customer.merged"}


async def test_a_file_uploaded_for_a_reply_never_sent_goes_with_her(hub: Hub, story: Story):
    await upload(story.maria, story.lena_conversation, "draft.txt", b"for Lena", "text/plain")
    answer = await story.admin.call(
        "DELETE", f"/api/admin/customers/{story.lena_id}", {"confirm": "Lena Fischer"}, expect=200
    )
    assert answer[1]["deleted"]["attachments"] == 4
    after = await every_row(hub)
    assert not [a for a in after["attachments"] if a["conversation_id"] == story.lena_conversation]


async def test_everyone_else_is_untouched(hub: Hub, story: Story):
    omar_before = await story.admin.get(f"/api/conversations/{story.omar_conversation}")
    customer_before = await story.admin.get(f"/api/admin/customers/{story.omar_id}")
    await story.admin.call(
        "DELETE", f"/api/admin/customers/{story.lena_id}", {"confirm": str(story.lena_id)}, 200
    )
    assert await story.admin.get(f"/api/conversations/{story.omar_conversation}") == omar_before
    assert await story.admin.get(f"/api/admin/customers/{story.omar_id}") == customer_before
    agents = await story.admin.get("/api/admin/agents")
    assert [a["email"] for a in agents] == ["admin@example.com", "maria@example.com"]


async def test_a_wrong_or_missing_confirmation_is_400_and_deletes_nothing(hub: Hub, story: Story):
    before = await every_row(hub)
    path = f"/api/admin/customers/{story.lena_id}"
    for body in ({"confirm": "Lena"}, {"confirm": str(story.omar_id)}, {}):
        status, answer = await story.admin.call("DELETE", path, body)
        assert status == 400, answer
        assert answer["field"] == "confirm"
    assert await every_row(hub) == before
    status, _ = await story.admin.call("DELETE", "/api/admin/customers/999999", {"confirm": "x"})
    assert status == 404


async def test_not_while_a_reply_to_them_is_being_sent(hub: Hub, story: Story, clock: FakeClock):
    clock.set(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    (claim,) = await hub.db.write(partial(claim_due, timedelta(minutes=5), 10))
    assert claim.message.message_id == story.scheduled_reply, "her hours opened: it is sent"
    before = await every_row(hub)
    path = f"/api/admin/customers/{story.lena_id}"
    status, answer = await story.admin.call("DELETE", path, {"confirm": "Lena Fischer"})
    assert (status, answer["error"]) == (
        409,
        "a reply to this customer is being sent right now: try again in a minute",
    )
    assert await every_row(hub) == before
    clock.advance(minutes=6)
    await story.admin.call("DELETE", path, {"confirm": "Lena Fischer"}, expect=200)


async def test_agents_get_403_even_for_their_own_customer(
    hub: Hub, story: Story, browser_factory: Any
):
    path = f"/api/admin/customers/{story.lena_id}"
    status, answer = await story.maria.call("DELETE", path, {"confirm": "Lena Fischer"})
    assert (status, answer) == (403, {"error": "this endpoint is for admins"})
    await add_agent(hub, "tom@example.com")
    tom = await (await browser_factory()).login("tom@example.com")
    assert (await tom.call("DELETE", path, {"confirm": "Lena Fischer"}))[0] == 403
    assert (await story.admin.get(path))["name"] == "Lena Fischer"


async def test_her_address_writing_again_is_a_new_customer(hub: Hub, story: Story):
    await story.admin.call(
        "DELETE", f"/api/admin/customers/{story.lena_id}", {"confirm": "Lena Fischer"}, 200
    )
    await send_lena_mail(hub)
    (again,) = await story.admin.get(f"/api/admin/customers?q={LENA_MAIL}")
    assert again["id"] != story.lena_id
    assert [(i["kind"], i["address"]) for i in again["identities"]] == [("email", LENA_MAIL)]
    assert again["claims"] == []
    (conversation,) = await story.admin.get(f"/api/conversations?scope=all&q={LENA_MAIL}")
    detail = await story.admin.get(f"/api/conversations/{conversation['id']}")
    assert [m["text"] for m in detail["messages"]] == [LENA_TEXTS[0]], "no history comes back"
