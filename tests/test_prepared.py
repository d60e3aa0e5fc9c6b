"""Prepared statements behave like SQLAlchemy's own: same values back, same errors."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from hub.app import Hub
from hub.db.prepared import Prepared
from hub.db.schema import hub_state

PUT = Prepared(insert(hub_state).values(key=bindparam("key"), value=bindparam("value")))
GET = Prepared(select(hub_state.c.value).where(hub_state.c.key == bindparam("key")))


async def test_round_trip_and_unique_violation_is_sqlalchemys_integrity_error(hub: Hub):
    await hub.db.write(lambda tx: PUT.run(tx.conn, key="k", value="first"))
    with pytest.raises(IntegrityError):
        await hub.db.write(lambda tx: PUT.run(tx.conn, key="k", value="second"))
    assert await hub.db.read(lambda conn: GET.scalar(conn, key="k")) == "first"
