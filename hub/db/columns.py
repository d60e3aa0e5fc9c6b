"""Column types and the metadata every table of the hub is registered on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Dialect, Integer, MetaData, String, Text
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, straight to the text SQLAlchemy's DATETIME stores, in one C call.

        Every message binds several datetimes, and the general path (this type's
        conversion, then SQLite DATETIME's Python formatting) costs about 2 µs each.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def as_text(value: datetime | None) -> str | None:
            moment = self.process_bind_param(value, dialect)
            return None if moment is None else moment.isoformat(" ", "microseconds")

        return as_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")
LARGEST_INTEGER = 2**31 - 1
"""The largest value an ``Integer`` column holds on PostgreSQL; a larger one is no row's."""


def leased_columns() -> tuple[Column[Any], ...]:
    """The columns of a table whose rows are sent by lease and retried (``hub/leases.py``):
    the outbox and the agents' notifications."""
    return (
        Column("state", String(10), nullable=False),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UtcDateTime, nullable=False),
        Column("lease_until", UtcDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("created_at", UtcDateTime, nullable=False),
    )
