"""Statements compiled once and run straight on the driver, for the hot path.

Measured on our 2-core machines, SQLAlchemy Core spends 30-70 µs of Python on
each ``Connection.execute`` (building, cache lookup, result wrapping) while
sqlite3 runs an indexed select in about 12 µs. Ingest runs several
statements per message, so its statements are declared once as
:class:`Prepared`: compiled per dialect on first use (same SQL, paramstyle
and type conversions SQLAlchemy itself would use) and then executed on the
DBAPI cursor of the unit's connection, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Insert, Update, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Plan:
    sql: str
    literals: dict[str, Any]
    binds: Sequence[tuple[str, Processor]]
    """Each positional parameter's name and its conversion, if it has one."""
    readers: Sequence[tuple[int, Callable[[Any], Any]]]
    """The result columns that need a conversion (by position), and that conversion."""


def _read(row: Sequence[Any], readers: Sequence[tuple[int, Callable[[Any], Any]]]) -> tuple:
    values = list(row)
    for position, reader in readers:
        values[position] = reader(values[position])
    return tuple(values)


class Prepared:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            compiled = self.statement.compile(dialect=dialect)
            names = list(compiled.positiontup or ())
            binds = [compiled.binds[name] for name in names]
            literals = {
                name: bind.value
                for name, bind in zip(names, binds, strict=True)
                if not bind.required
            }
            binders = [bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds]
            columns = getattr(self.statement, "exported_columns", ())
            readers = [
                (position, reader)
                for position, column in enumerate(columns)
                if (reader := column.type.dialect_impl(dialect).result_processor(dialect, None))
            ]
            plan = _Plan(compiled.string, literals, list(zip(names, binders, strict=True)), readers)
            self._plans[dialect.name] = plan
        return plan

    def rows(self, conn: Connection, **params: Any) -> list[tuple[Any, ...]]:
        plan = self._plan(conn.dialect)
        if plan.literals:
            params = {**plan.literals, **params}
        args = [
            params[name] if binder is None else binder(params[name]) for name, binder in plan.binds
        ]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        driver_error = conn.dialect.loaded_dbapi.Error
        try:
            cursor.execute(plan.sql, args)
            fetched = cursor.fetchall() if cursor.description else []
        except driver_error as error:
            # The same exception classes SQLAlchemy raises (IntegrityError...), so
            # callers handle both paths alike.
            raise DBAPIError.instance(plan.sql, args, error, driver_error) from error
        finally:
            cursor.close()
        if not plan.readers:
            return [tuple(row) for row in fetched]
        return [_read(row, plan.readers) for row in fetched]

    def run(self, conn: Connection, **params: Any) -> None:
        self.rows(conn, **params)

    def first(self, conn: Connection, **params: Any) -> tuple[Any, ...] | None:
        found = self.rows(conn, **params)
        return found[0] if found else None

    def scalar(self, conn: Connection, **params: Any) -> Any:
        row = self.first(conn, **params)
        return row[0] if row else None


class InsertThenUpdate:
    """An insert returning a value, then an update: one unit of work, parameters by name.

    PostgreSQL runs both as one statement (data-modifying CTEs), as the round
    trip is most of what a statement costs there; SQLite has no data-modifying
    CTEs, so it runs two. ``insert`` alone serves callers with nothing to update.
    """

    def __init__(self, insert: Insert, update: Update) -> None:
        self.insert = Prepared(insert)
        self.update = Prepared(update)
        inserted = insert.cte("inserted")
        self._together = Prepared(select(*inserted.c).add_cte(update.cte("updated")))

    def scalar(self, conn: Connection, **params: Any) -> Any:
        """Run both; what the insert returned."""
        if conn.dialect.name == "postgresql":
            return self._together.scalar(conn, **params)
        value = self.insert.scalar(conn, **params)
        self.update.run(conn, **params)
        return value
