"""Write units on either backend: those submitted together share a commit, yet a unit
that fails undoes only itself, and the others keep their writes and their events."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import bindparam, insert, select

from hub.app import Hub
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import hub_state
from tests.support.hubs import add_agent

PUT = Prepared(insert(hub_state).values(key=bindparam("key"), value=bindparam("value")))
GET = Prepared(select(hub_state.c.value).where(hub_state.c.key == bindparam("key")))


async def stored(hub: Hub, *keys: str) -> dict[str, str | None]:
    return {key: await hub.db.read(lambda conn, k=key: GET.scalar(conn, key=k)) for key in keys}


def put_key(key: str) -> Any:
    def unit(tx: Tx) -> str:
        PUT.run(tx.conn, key=key, value=key)
        return key

    return unit


async def test_a_failing_unit_undoes_only_itself_and_the_others_keep_their_events(hub: Hub):
    maria = await add_agent(hub, "maria@example.com")

    def put(key: str) -> Any:
        def unit(tx: Tx) -> str:
            PUT.run(tx.conn, key=key, value=key)
            tx.emit("test.put", {"key": key}, to=[maria])
            return key

        return unit

    def fails(tx: Tx) -> None:
        PUT.run(tx.conn, key="bad", value="bad")
        tx.emit("test.put", {"key": "bad"}, to=[maria])
        raise ValueError("no")

    with hub.bus.subscribe(maria) as subscription:
        results = await asyncio.gather(
            hub.db.write(put("before")),
            hub.db.write(put("also before")),
            hub.db.write(fails),
            hub.db.write(put("after")),
            return_exceptions=True,
        )
        received = await subscription.next_batch()

    assert results[:2] == ["before", "also before"]
    assert isinstance(results[2], ValueError)
    assert results[3] == "after"
    assert await stored(hub, "before", "also before", "bad", "after") == {
        "before": "before",
        "also before": "also before",
        "bad": None,
        "after": "after",
    }
    assert [event.payload["key"] for event in received] == ["before", "also before", "after"]


async def test_a_unit_that_fails_only_when_run_again_gets_its_error(hub: Hub):
    runs: list[str] = []

    def flaky(tx: Tx) -> str:
        runs.append("flaky")
        PUT.run(tx.conn, key="flaky", value="flaky")
        if len(runs) > 1:
            raise RuntimeError("second run")
        return "flaky"

    def fails(tx: Tx) -> None:
        raise ValueError("no")

    results = await asyncio.gather(hub.db.write(flaky), hub.db.write(fails), return_exceptions=True)

    assert [type(result) for result in results] == [RuntimeError, ValueError]
    assert await stored(hub, "flaky") == {"flaky": None}


async def test_after_a_failure_the_earlier_units_run_once_more_not_once_per_failure(hub: Hub):
    runs: list[str] = []

    def counted(tx: Tx) -> None:
        runs.append("counted")
        PUT.run(tx.conn, key="counted", value="counted")

    def fails(tx: Tx) -> None:
        raise ValueError("no")

    results = await asyncio.gather(
        hub.db.write(counted),
        *(hub.db.write(fails) for _ in range(5)),
        hub.db.write(put_key("after")),
        return_exceptions=True,
    )

    assert results[0] is None
    assert all(isinstance(result, ValueError) for result in results[1:6])
    assert results[6] == "after"
    assert len(runs) == 2, "run, then once more after the first failure"
    assert await stored(hub, "counted", "after") == {"counted": "counted", "after": "after"}
