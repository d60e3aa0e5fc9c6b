"""Prepared statements behave like SQLAlchemy's own: same values back, same errors."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.app import Hub
from hub.db.prepared import InsertThenUpdate, Prepared
from hub.db.schema import hub_state

PUT = Prepared(insert(hub_state).values(key=bindparam("key"), value=bindparam("value")))
GET = Prepared(select(hub_state.c.value).where(hub_state.c.key == bindparam("key")))
PUT_AND_SET = InsertThenUpdate(
    insert(hub_state)
    .values(key=bindparam("key"), value=bindparam("value"))
    .returning(hub_state.c.key),
    update(hub_state).where(hub_state.c.key == bindparam("other")).values(value=bindparam("set")),
)


async def test_round_trip_and_unique_violation_is_sqlalchemys_integrity_error(hub: Hub):
    await hub.db.write(lambda tx: PUT.run(tx.conn, key="k", value="first"))
    with pytest.raises(IntegrityError):
        await hub.db.write(lambda tx: PUT.run(tx.conn, key="k", value="second"))
    assert await hub.db.read(lambda conn: GET.scalar(conn, key="k")) == "first"


async def test_insert_then_update_runs_both_and_returns_what_the_insert_returned(hub: Hub):
    await hub.db.write(lambda tx: PUT.run(tx.conn, key="count", value="0"))
    inserted = await hub.db.write(
        lambda tx: PUT_AND_SET.scalar(tx.conn, key="k", value="v", other="count", set="1")
    )
    assert inserted == "k"
    assert await hub.db.read(lambda conn: GET.scalar(conn, key="k")) == "v"
    assert await hub.db.read(lambda conn: GET.scalar(conn, key="count")) == "1"
