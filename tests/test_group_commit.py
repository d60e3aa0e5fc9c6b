"""PostgreSQL group commit: writes submitted together share a transaction, yet each unit
stands alone (its failure undoes only itself, a lost uniqueness race or deadlock runs it
again) and its caller is answered once it is committed and its events are published.

Transactions are told apart by ``txid_current()``, run inside the units themselves.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, insert, select, text, update

from hub.app import Hub
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import hub_state
from tests.support.databases import POSTGRES_URL
from tests.support.hubs import add_agent

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="PostgreSQL group commit: set HUB_TEST_DATABASE_URL"
)

PUT = Prepared(insert(hub_state).values(key=bindparam("key"), value=bindparam("value")))
GET = Prepared(select(hub_state.c.value).where(hub_state.c.key == bindparam("key")))
SET = Prepared(
    update(hub_state).where(hub_state.c.key == bindparam("key")).values(value=bindparam("value"))
)
TXID = Prepared(select(text("txid_current()")))


def put(key: str) -> Any:
    def unit(tx: Tx) -> int:
        PUT.run(tx.conn, key=key, value=key)
        return TXID.scalar(tx.conn)

    return unit


async def stored(hub: Hub, *keys: str) -> dict[str, str | None]:
    return {key: await hub.db.read(lambda conn, k=key: GET.scalar(conn, key=k)) for key in keys}


async def test_writes_submitted_together_commit_in_fewer_transactions(hub: Hub):
    keys = [f"k{n}" for n in range(40)]

    txids = await asyncio.gather(*(hub.db.write(put(key)) for key in keys))

    assert len(set(txids)) < len(keys) / 4
    assert await stored(hub, *keys) == {key: key for key in keys}


async def test_a_failing_unit_undoes_only_itself(hub: Hub):
    def fails(tx: Tx) -> None:
        PUT.run(tx.conn, key="bad", value="bad")
        raise ValueError("no")

    first, failed, last = await asyncio.gather(
        hub.db.write(put("before")),
        hub.db.write(fails),
        hub.db.write(put("after")),
        return_exceptions=True,
    )

    assert isinstance(failed, ValueError)
    assert first == last, "one transaction"
    assert await stored(hub, "before", "bad", "after") == {
        "before": "before",
        "bad": None,
        "after": "after",
    }


async def test_a_unit_losing_a_uniqueness_race_runs_again_in_its_batch(hub: Hub):
    attempts: list[str | None] = []

    def claim(tx: Tx) -> tuple[str, int]:
        """Insert unless present, as ingest does for identities."""
        found = GET.scalar(tx.conn, key="race")
        attempts.append(found)
        if found is None:
            PUT.run(tx.conn, key="race", value="mine")
        return GET.scalar(tx.conn, key="race"), TXID.scalar(tx.conn)

    rival = await asyncpg.connect(POSTGRES_URL)
    try:
        async with rival.transaction():
            await rival.execute("INSERT INTO hub_state (key, value) VALUES ('race', 'theirs')")
            racing = asyncio.gather(hub.db.write(claim), hub.db.write(put("neighbour")))
            await asyncio.sleep(0.3)  # the unit waits on the rival's uncommitted row
            assert not racing.done()
        (value, txid), neighbour_txid = await racing
    finally:
        await rival.close()

    assert attempts == [None, "theirs"]
    assert value == "theirs"
    assert txid == neighbour_txid, "the neighbour shared the batch and was kept"
    assert await stored(hub, "neighbour") == {"neighbour": "neighbour"}


async def test_a_unit_hitting_a_taken_key_runs_again_in_its_savepoint(hub: Hub):
    await hub.db.write(put("taken"))
    attempts: list[int] = []

    def flaky(tx: Tx) -> int:
        """Collides twice (the plain run, then the first run in a savepoint), then not."""
        attempts.append(len(attempts) + 1)
        PUT.run(tx.conn, key="taken" if len(attempts) < 3 else "free", value="x")
        return TXID.scalar(tx.conn)

    neighbour, txid = await asyncio.gather(hub.db.write(put("neighbour")), hub.db.write(flaky))

    assert attempts == [1, 2, 3]
    assert txid == neighbour
    assert await stored(hub, "neighbour", "free") == {"neighbour": "neighbour", "free": "x"}


async def test_a_batch_losing_a_deadlock_runs_again_and_every_write_succeeds(hub: Hub):
    """Two writers each lock one row, then want the other's: PostgreSQL aborts one of them."""
    await hub.db.write(lambda tx: [PUT.run(tx.conn, key=k, value="0") for k in ("x", "y")])

    def take(key: str, value: str) -> Any:
        def unit(tx: Tx) -> None:
            SET.run(tx.conn, key=key, value=value)
            tx.conn.execute(text("SELECT pg_sleep(0.3)"))

        return unit

    def then(key: str, value: str) -> Any:
        def unit(tx: Tx) -> None:
            SET.run(tx.conn, key=key, value=value)

        return unit

    # Keys 0 and 1 go to the two writers; units of one key run in order, in one batch.
    await asyncio.gather(
        hub.db.write(take("x", "a"), key=0),
        hub.db.write(then("y", "a"), key=0),
        hub.db.write(take("y", "b"), key=1),
        hub.db.write(then("x", "b"), key=1),
    )

    # The batch that lost ran again, wholly after the other: its values are the last.
    assert await stored(hub, "x", "y") in ({"x": "a", "y": "a"}, {"x": "b", "y": "b"})


async def test_events_of_concurrent_writes_are_published_in_id_order_before_answering(
    hub: Hub,
):
    maria = await add_agent(hub, "maria@example.com")
    with hub.bus.subscribe(maria) as subscription:

        def emits(n: int) -> Any:
            def unit(tx: Tx) -> None:
                for part in ("first", "second"):
                    tx.emit("test.part", {"n": n, "part": part}, to=[maria])

            return unit

        await asyncio.gather(*(hub.db.write(emits(n), key=n) for n in range(30)))
        received = await subscription.next_batch()  # already there: no waiting

    ids = [event.id for event in received]
    assert len(received) == 60
    assert ids == sorted(ids)
    for n in range(30):
        parts = [e.payload["part"] for e in received if e.payload["n"] == n]
        assert parts == ["first", "second"]
