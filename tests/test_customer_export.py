"""Exporting a customer's data: a zip holding all of it and nobody else's, admins only, audited."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from sqlalchemy import ForeignKey

from hub.app import Hub
from hub.db.schema import metadata
from hub.privacy_erase import ERASED, EXPORTED, NOT_EXPORTED
from hub.privacy_export import file_name
from tests.support.hubs import Browser, add_agent
from tests.support.privacy import (
    CLAIMED,
    INVOICE,
    LENA_MAIL,
    LENA_TEXTS,
    PHOTOS,
    Story,
    hub,
    tell_story,
)

__all__ = ["hub"]
ABOUT_A_CUSTOMER = {"customers", "conversations", "messages", "identities"}


async def download(browser: Browser, customer_id: int) -> tuple[int, dict[str, str], bytes]:
    async with browser.session.get(
        browser.url(f"/api/admin/customers/{customer_id}/export")
    ) as response:
        return response.status, dict(response.headers), await response.read()


@pytest.fixture
async def story(hub: Hub, browser_factory: Any) -> Story:
    return await tell_story(hub, browser_factory)


async def test_the_zip_holds_identities_claims_messages_notes_scheduled_replies_and_files(
    story: Story,
):
    status, headers, body = await download(story.admin, story.lena_id)
    assert status == 200, body[:300]
    assert headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"] == f'attachment; filename="customer-{story.lena_id}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(body))
    invoice = f"attachments/{story.email_message}-0-invoice_2026.pdf"
    photos = [f"attachments/{story.email_message}-{n}-photo.png" for n in (1, 2)]
    assert sorted(archive.namelist()) == sorted(
        ["README.txt", "customer.json", "conversations.json", invoice, *photos]
    )
    assert archive.read(invoice) == INVOICE
    assert tuple(archive.read(photo) for photo in photos) == PHOTOS
    assert "conversations.json" in archive.read("README.txt").decode()

    customer = json.loads(archive.read("customer.json"))
    assert customer["name"] == "Lena Fischer"
    assert (customer["owner"], customer["backup"]) == ("Maria", None)
    assert customer["contact_hours"]["zone"] == "America/New_York"
    assert {(i["kind"], i["address"], i["proof"]) for i in customer["identities"]} == {
        ("email", LENA_MAIL, None),
        ("webchat", "visitor-lena", "person"),
        ("webchat", "visitor-lena-2", "channel"),
    }
    assert [(c["kind"], c["address"]) for c in customer["claims"]] == [("email", CLAIMED)]

    (conversation,) = json.loads(archive.read("conversations.json"))
    assert conversation["id"] == story.lena_conversation
    written = conversation["messages"]
    assert [m["text"] for m in written] == [*LENA_TEXTS[:3], *LENA_TEXTS[4:]]
    assert [m["direction"] for m in written] == ["in", "in", "in", "out", "out"]
    assert [m["channel"] for m in written] == ["mail", "webchat", "webchat", "webchat", "webchat"]
    assert written[0]["identity"] == {"kind": "email", "address": LENA_MAIL}
    assert [a["name"] for a in written[0]["attachments"]] == [
        "invoice 2026.pdf",
        "photo.png",
        "photo.png",
    ], "the email parser kept no path"
    assert written[3]["author"] == "Maria"
    assert written[3]["delivery"]["state"] == "sent"
    assert written[4]["state"] == "scheduled"
    assert written[4]["release_at"] is not None
    assert [n["text"] for n in conversation["notes"]] == [LENA_TEXTS[3]]
    assert conversation["scheduled_replies"] == [story.scheduled_reply]
    everything = b"".join(archive.read(name) for name in archive.namelist())
    for others in (b"Omar", b"gift cards", b"likes tea"):
        assert others not in everything


async def test_export_is_audited_with_counts_and_no_content(story: Story):
    status, _, _ = await download(story.admin, story.lena_id)
    assert status == 200
    (entry,) = await story.admin.get(
        f"/api/admin/audit?subject_type=customer&subject_id={story.lena_id}&limit=1"
    )
    assert entry["action"] == "customer.exported"
    assert entry["actor_name"] == "Ada"
    assert entry["details"] == {
        "identities": 3,
        "conversations": 1,
        "messages": 6,
        "attachments": 3,
    }


async def test_agents_may_not_export_and_an_unknown_customer_is_404(
    hub: Hub, story: Story, browser_factory: Any
):
    status, _, body = await download(story.maria, story.lena_id)
    assert status == 403, "not even the customer's owner"
    assert b"admins" in body
    status, _, body = await download(story.admin, 999_999)
    assert status == 404
    assert json.loads(body) == {"error": "customer 999999 does not exist"}
    await add_agent(hub, "tom@example.com")
    tom = await (await browser_factory()).login("tom@example.com")
    assert (await download(tom, story.omar_id))[0] == 403


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "7-0-passwd"),
        ("..\\..\\boot.ini", "7-0-boot.ini"),
        ("/abs/path/ünïcode näme.txt", "7-0-n_code_n_me.txt"),
        ("...", "7-0-file"),
        ("", "7-0-file"),
    ],
)
def test_file_names_stay_inside_the_attachments_folder(name: str, expected: str):
    assert file_name(7, 0, name) == f"attachments/{expected}"


def referring_tables() -> set[str]:
    """Tables with a foreign key, direct or through another table, to a customer's rows."""
    found = set(ABOUT_A_CUSTOMER)
    grew = True
    while grew:
        grew = False
        for table in metadata.sorted_tables:
            keys: list[ForeignKey] = [k for c in table.columns for k in c.foreign_keys]
            if table.name not in found and any(k.column.table.name in found for k in keys):
                found.add(table.name)
                grew = True
    return found


def test_every_table_about_a_customer_is_exported_or_knowingly_left_out():
    tables = {table.name for table in metadata.sorted_tables}
    referring = referring_tables()
    assert referring >= {"attachments", "outbox", "agent_notices", "identity_claims"}
    unaccounted = referring - set(EXPORTED) - set(NOT_EXPORTED)
    assert not unaccounted, f"say whether the export holds these: {sorted(unaccounted)}"
    assert referring <= ERASED, f"erasure misses {sorted(referring - ERASED)}"
    assert set(EXPORTED) | set(NOT_EXPORTED) <= tables, "a listed table no longer exists"
    assert not set(EXPORTED) & set(NOT_EXPORTED)
