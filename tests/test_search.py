"""Full-text search (``GET /api/search``): who finds what, ranking, snippets, filters, syntax
in the query, and the index kept in step with each write's transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Connection, delete, inspect, text, update

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.auth import Principal
from hub.conversations import post_note
from hub.db.database import Tx
from hub.db.migrate import alembic_config
from hub.db.schema import customers, messages
from hub.db.search_index import PG_INDEXES, SQLITE_TRIGGERS, flush_sqlite_queue
from hub.search import Search, SearchFilter, search
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, signed_in_team
from tests.support.messages import chat


@pytest.fixture
async def people(hub: Hub, browser_factory) -> dict[str, Browser]:
    return await signed_in_team(hub, browser_factory)


async def give(people: dict[str, Browser], customer_id: int, owner: str) -> None:
    body = {"owner_id": people[owner].agent["id"]}
    await people["admin"].patch(f"/api/admin/customers/{customer_id}", body, expect=200)


async def find(browser: Browser, q: str, expect: int = 200, **filters: Any) -> Any:
    return await browser.get("/api/search?" + urlencode({"q": q, **filters}), expect=expect)


def found_messages(answer: dict[str, Any]) -> list[int]:
    return [hit["message_id"] for hit in answer["messages"]]


def found_customers(answer: dict[str, Any]) -> list[int]:
    return [hit["customer"]["id"] for hit in answer["customers"]]


def sms(number: str, external_id: str, words: str, **extra: Any) -> InboundMessage:
    return InboundMessage(
        channel="sms", external_id=external_id, sender=Address("phone", number), text=words, **extra
    )


async def test_an_agent_finds_only_conversations_they_may_see(hub: Hub, people):
    lena = await hub.ingest(chat("v1", "1", "Where is my parcel?", sender_name="Lena Fischer"))
    ida = await hub.ingest(chat("v2", "2", "My parcel is late", sender_name="Ida Berg"))
    await give(people, lena.customer_id, "maria")
    await give(people, ida.customer_id, "tom")

    assert found_messages(await find(people["maria"], "parcel")) == [lena.message_id]
    assert found_messages(await find(people["tom"], "parcel")) == [ida.message_id]
    assert found_customers(await find(people["maria"], "berg")) == [], "Tom's customer"
    assert found_customers(await find(people["tom"], "berg")) == [ida.customer_id]
    everything = await find(people["admin"], "parcel")
    assert set(found_messages(everything)) == {lena.message_id, ida.message_id}, "admins: all"


async def test_the_backup_finds_what_they_handle_for_an_absent_owner(hub: Hub, people):
    ida = await hub.ingest(chat("v2", "1", "hello", sender_name="Ida Berg"))
    await give(people, ida.customer_id, "tom")
    assert found_customers(await find(people["maria"], "ida")) == []
    maria_id = people["maria"].agent["id"]
    await people["tom"].patch("/api/me/status", {"away": True, "backup_id": maria_id}, expect=200)
    later = await hub.ingest(chat("v2", "2", "invoice question", sender_name="Ida Berg"))

    assert found_messages(await find(people["maria"], "invoice")) == [later.message_id]
    assert found_customers(await find(people["maria"], "ida")) == [ida.customer_id]


async def test_email_subject_customer_name_address_and_notes_are_found(hub: Hub, people):
    mail = await hub.ingest(
        sms(
            "+4915100777",
            "s1",
            "see attached",
            sender_name="Omar Haddad",
            meta={"subject": "Invoice 4711 overdue"},
        )
    )
    await give(people, mail.customer_id, "maria")
    maria = people["maria"]
    note = await maria.post(
        f"/api/conversations/{mail.conversation_id}/notes", {"text": "called him, vip"}, expect=201
    )

    by_subject = await find(maria, "4711")
    assert found_messages(by_subject) == [mail.message_id]
    assert by_subject["messages"][0]["field"] == "subject"
    assert found_customers(await find(maria, "haddad")) == [mail.customer_id]
    by_address = await find(maria, "+4915100777")
    assert found_customers(by_address) == [mail.customer_id]
    assert by_address["customers"][0]["field"] == "address"
    by_note = await find(maria, "vip")
    assert found_messages(by_note) == [note["id"]]
    assert by_note["messages"][0]["direction"] == "note"


async def test_the_closer_match_ranks_first(hub: Hub, people):
    loose = await hub.ingest(
        chat("v1", "1", "About my order: the refund for the blue shoes I sent back last week")
    )
    close = await hub.ingest(chat("v2", "2", "refund refund refund"))
    newest = await hub.ingest(chat("v3", "3", "nothing to do with it"))
    answer = await find(people["admin"], "refund")
    assert found_messages(answer) == [close.message_id, loose.message_id]
    assert newest.message_id not in found_messages(answer)


async def test_snippets_mark_the_words_as_parts_of_plain_text(hub: Hub, people):
    await hub.ingest(chat("v1", "1", "<b>Hi</b> the Parcel from <script>x</script> is lost"))
    (hit,) = (await find(people["admin"], "parcel"))["messages"]
    parts = hit["snippet"]
    assert "".join(part["text"] for part in parts) == (
        "<b>Hi</b> the Parcel from <script>x</script> is lost"
    )
    assert [part["text"] for part in parts if part["match"]] == ["Parcel"]
    assert hit["field"] == "text"


async def test_filters_by_channel_owner_state_dates_and_tag(hub: Hub, clock: FakeClock, people):
    start = clock.now()
    web = await hub.ingest(chat("v1", "1", "broken login", sender_name="Lena"))
    clock.advance(hours=2)
    phone = await hub.ingest(sms("+4915100777", "s1", "broken login", sender_name="Omar"))
    await give(people, web.customer_id, "maria")
    await give(people, phone.customer_id, "tom")
    await people["tom"].post(f"/api/conversations/{phone.conversation_id}/resolve", expect=200)
    admin = people["admin"]

    assert found_messages(await find(admin, "login", channel="sms")) == [phone.message_id]
    maria_id = people["maria"].agent["id"]
    assert found_messages(await find(admin, "login", owner_id=maria_id)) == [web.message_id]
    assert found_messages(await find(admin, "login", state="resolved")) == [phone.message_id]
    hour = (start + timedelta(hours=1)).isoformat()
    assert found_messages(await find(admin, "login", to=hour)) == [web.message_id]
    assert found_messages(await find(admin, "login", **{"from": hour})) == [phone.message_id]
    assert found_customers(await find(admin, "lena omar")) == []
    problem = await find(admin, "login", expect=400, **{"from": hour, "to": start.isoformat()})
    assert "before" in problem["error"]
    urgent = await admin.post("/api/admin/tags", {"name": "urgent", "colour": "#d62728"}, 201)
    path = f"/api/conversations/{phone.conversation_id}/tags/{urgent['id']}"
    await admin.call("PUT", path, expect=200)
    assert found_messages(await find(admin, "login", tag=urgent["id"])) == [phone.message_id]
    assert found_customers(await find(admin, "lena", tag=urgent["id"])) == []
    assert found_customers(await find(admin, "omar", tag=urgent["id"])) == [phone.customer_id]


@pytest.mark.parametrize(
    "q",
    [
        '"',
        'parcel"',
        "NEAR(parcel",
        "parcel*",
        "parcel OR x",
        "-parcel",
        "(parcel)",
        "a:b",
        "^parcel",
        "'",
        "AND",
    ],
)
async def test_search_syntax_in_the_query_is_taken_as_words(hub: Hub, people, q: str):
    message = await hub.ingest(chat("v1", "1", "my parcel: a b and x"))
    status, answer = await people["admin"].call("GET", "/api/search?" + urlencode({"q": q}))
    assert status in (200, 400), (status, answer)
    if status == 400:
        assert "word" in answer["error"]
    elif "parcel" in q:
        assert found_messages(answer) in ([message.message_id], []), answer


async def test_a_query_without_words_is_a_clear_400(hub: Hub, people):
    problem = await find(people["admin"], '*** " -', expect=400)
    assert problem["error"] == "search for at least one word with letters or digits"
    assert "q" in (await find(people["admin"], "", expect=422))["error"]


async def test_a_rolled_back_message_is_never_found_and_a_committed_one_at_once(hub: Hub, people):
    """Both units share a commit; the failing one is undone with the index entry it made
    (on SQLite the giraffe note then takes the rolled-back note's id)."""
    lena = await hub.ingest(chat("v1", "1", "hello", sender_name="Lena"))
    admin = admin_of(people)
    seen_inside: list[list[int]] = []

    def note_then_fail(tx: Tx) -> None:
        post_note(admin, lena.conversation_id, "zebra crossing", tx)
        flush_in(tx)
        seen_inside.append(found_messages(search(admin, wanted("zebra"), tx.conn)))
        raise RuntimeError("the unit fails after writing")

    results = await asyncio.gather(
        hub.db.write(note_then_fail),
        hub.db.write(partial(post_note, admin, lena.conversation_id, "giraffe spotted")),
        return_exceptions=True,
    )
    assert isinstance(results[0], RuntimeError)
    assert len(seen_inside[0]) == 1, "inside its transaction the note is in the index"
    assert found_messages(await find(people["admin"], "zebra")) == []
    assert found_messages(await find(people["admin"], "giraffe")) == [results[1]["id"]]


def admin_of(people: dict[str, Browser]) -> Principal:
    return Principal(people["admin"].agent["id"], "Ada", "admin", "", False)


def flush_in(tx: Tx) -> None:
    """What the commit does first on SQLite: index what the triggers queued (PostgreSQL's
    index is written by each statement)."""
    if tx.conn.dialect.name == "sqlite":
        flush_sqlite_queue(tx.conn.connection.dbapi_connection)


async def test_edits_and_deletes_before_and_in_the_writing_transaction_are_indexed(
    hub: Hub, people
):
    """On SQLite the commit indexes queued rows as they are then; an entry already in the
    index is removed with the text it was indexed with."""
    lena = await hub.ingest(chat("v1", "1", "apple", sender_name="Lena Fischer"))
    admin = admin_of(people)

    def write_edit_delete(tx: Tx) -> int:
        kept = post_note(admin, lena.conversation_id, "banana", tx)["id"]
        gone = post_note(admin, lena.conversation_id, "cherry", tx)["id"]
        edit_message(tx, kept, "damson")
        edit_message(tx, lena.message_id, "elder")
        tx.conn.execute(delete(messages).where(messages.c.id == gone))
        rename(tx.conn, lena.customer_id, "Lena Graf")
        return kept

    kept = await hub.db.write(write_edit_delete)
    expected = {"apple": [], "banana": [], "cherry": [], "damson": [kept]}
    expected |= {"elder": [lena.message_id]}
    for word, messages_found in expected.items():
        assert found_messages(await find(people["admin"], word)) == messages_found, word
    assert found_customers(await find(people["admin"], "graf")) == [lena.customer_id]

    def delete_and_rename(tx: Tx) -> None:
        tx.conn.execute(delete(messages).where(messages.c.id == kept))
        rename(tx.conn, lena.customer_id, "Lena Wolf")

    await hub.db.write(delete_and_rename)
    assert found_messages(await find(people["admin"], "damson")) == []
    assert found_customers(await find(people["admin"], "graf")) == []
    assert found_customers(await find(people["admin"], "wolf")) == [lena.customer_id]


def edit_message(tx: Tx, message_id: int, words: str) -> None:
    tx.conn.execute(update(messages).where(messages.c.id == message_id).values(text=words))


def rename(conn: Connection, customer_id: int, name: str) -> None:
    conn.execute(update(customers).where(customers.c.id == customer_id).values(name=name))


def wanted(q: str) -> Search:
    return Search((q,), SearchFilter(), 20)


async def test_rows_indexed_by_each_statement_at_0011_stay_found_after_0014(hub: Hub, people):
    """0014 turns the triggers into a queue the commit indexes (SQLite); its downgrade
    indexes what is queued and brings back 0011's triggers."""
    await hub.db.run_maintenance(partial(alembic_to, "0011"))
    at_0011 = await hub.ingest(chat("v1", "1", "written at eleven", sender_name="Lena"))
    await hub.db.run_maintenance(partial(alembic_to, "head"))
    at_head = await hub.ingest(chat("v2", "2", "written at twelve", sender_name="Ida"))
    found = found_messages(await find(people["admin"], "written"))
    assert sorted(found) == [at_0011.message_id, at_head.message_id]

    def downgrade_with_a_queued_row(conn: Connection) -> None:
        rename(conn, at_head.customer_id, "Ida Berg")
        alembic_to("0011", conn)

    await hub.db.run_maintenance(downgrade_with_a_queued_row)
    assert found_customers(await find(people["admin"], "berg")) == [at_head.customer_id]
    await hub.db.run_maintenance(partial(alembic_to, "head"))


async def test_rows_stored_before_the_index_existed_are_found(hub: Hub, people):
    """The migration indexes what is already there (and the downgrade drops the index)."""
    await hub.db.run_maintenance(partial(alembic_to, "0010"))
    lena = await hub.ingest(chat("v1", "1", "stored before search", sender_name="Lena Fischer"))
    await hub.db.run_maintenance(partial(alembic_to, "head"))
    assert found_customers(await find(people["admin"], "fischer")) == [lena.customer_id]
    assert found_messages(await find(people["admin"], "before")) == [lena.message_id]


def alembic_to(revision: str, conn: Connection) -> None:
    from alembic import command

    config = alembic_config(conn)
    if revision == "head":
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)


async def test_the_index_is_in_place_at_head(hub: Hub):
    """A later batch migration on SQLite (a table copied) would drop the triggers silently."""

    def present(conn: Connection) -> set[str]:
        if conn.dialect.name == "postgresql":
            found = set()
            for table in ("messages", "customers", "identities"):
                found |= {index["name"] for index in inspect(conn).get_indexes(table)}
            return found & set(PG_INDEXES)
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        return {name for (name,) in rows} & set(SQLITE_TRIGGERS)

    expected = PG_INDEXES if hub.db.dialect == "postgresql" else SQLITE_TRIGGERS
    assert await hub.db.read(present) == set(expected)
