"""The full-text search index: what migrations 0011 and 0014 build, per dialect.

SQLite: two FTS5 tables, written in the transaction that writes the rows (a
rolled-back message leaves no entry). Messages are indexed through a view
(external content: the text is not stored twice); customers with their names
and every identity's address and display name. Since 0014 the triggers only
queue the ids they touch (``search_*_pending``) and :func:`flush_sqlite_queue`
indexes the queue once, just before the transaction commits: FTS5 writes what
it holds as a new segment at every statement that opens a statement journal
(its ``xSavepoint``), so indexing in each trigger made one segment, and its
merges, per message. Removing a message's entry stays in its trigger, as an
external-content entry is removed with the text it was indexed with.

PostgreSQL: GIN indexes over ``to_tsvector`` (for messages, a stored generated
column), which PostgreSQL itself keeps in step with each write. The ``simple`` configuration (no
stemming) on both, as the hub's customers write in many languages.

A batch migration that copies ``messages``, ``customers`` or ``identities``
(SQLite's way to alter a column) drops their triggers: run
:func:`create_sqlite_triggers` again after it (``tests/test_search.py`` checks
they exist at head).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Connection

SEARCHED_CHARS = 100_000
"""Of a message's text, the first this many characters are indexed (PostgreSQL's tsvector
holds at most 1 MB; this keeps any text well inside it)."""

SQLITE_TABLES = ("search_messages", "search_customers")
"""The FTS5 tables; FTS5 keeps each one's data in shadow tables named after it, and each
one's queue of ids to index at commit is ``<table>_pending``."""

PG_CONFIG = "simple"
PG_MESSAGE_VECTOR = "search_vector"
"""A stored generated ``tsvector`` column of ``messages`` (PostgreSQL only): matching and
ranking read it instead of parsing each candidate's text again."""
PG_MESSAGE_DOCUMENT = (
    f"to_tsvector('{PG_CONFIG}'::regconfig, left(text, {SEARCHED_CHARS})"
    " || ' ' || coalesce(meta ->> 'subject', ''))"
)
PG_CUSTOMER_DOCUMENT = f"to_tsvector('{PG_CONFIG}'::regconfig, customers.name)"
PG_IDENTITY_DOCUMENT = (
    f"(to_tsvector('{PG_CONFIG}'::regconfig,"
    " identities.address || ' ' || coalesce(identities.display_name, ''))"
    f" || to_tsvector('{PG_CONFIG}'::regconfig, translate(identities.address, '@.+', '   ')))"
)
"""An address whole (PostgreSQL's parser keeps an email as one word) and in its parts, so
``anna`` finds anna@example.com as FTS5 does."""

PG_INDEXES = {
    "ix_messages_search": ("messages", PG_MESSAGE_VECTOR),
    "ix_customers_search": ("customers", PG_CUSTOMER_DOCUMENT),
    "ix_identities_search": ("identities", PG_IDENTITY_DOCUMENT),
}

_MESSAGE_FIELDS = (
    f"substr({{row}}.text, 1, {SEARCHED_CHARS}), json_extract({{row}}.meta, '$.subject')"
)
_CUSTOMER_DOCUMENTS = """
    SELECT customers.id, customers.name,
           (SELECT group_concat(address || ' ' || coalesce(display_name, ''), ' ')
            FROM identities WHERE identities.customer_id = customers.id)
    FROM customers"""
_CUSTOMER_ROW = f"""
    DELETE FROM search_customers WHERE rowid = {{id}};
    INSERT INTO search_customers(rowid, name, addresses)
    {_CUSTOMER_DOCUMENTS} WHERE customers.id = {{id}};
"""
SQLITE_TRIGGERS = {
    "search_messages_insert": "AFTER INSERT ON messages BEGIN {add_new}; END",
    "search_messages_delete": "AFTER DELETE ON messages BEGIN {remove_old}; END",
    "search_messages_update": (
        "AFTER UPDATE OF text, meta ON messages"
        " WHEN old.text IS NOT new.text"
        " OR json_extract(old.meta, '$.subject') IS NOT json_extract(new.meta, '$.subject')"
        " BEGIN {remove_old}; {add_new}; END"
    ),
    "search_customers_insert": "AFTER INSERT ON customers BEGIN {customer_new} END",
    "search_customers_update": (
        "AFTER UPDATE OF name ON customers WHEN old.name IS NOT new.name BEGIN {customer_new} END"
    ),
    "search_customers_delete": "AFTER DELETE ON customers BEGIN {customer_old} END",
    "search_identities_insert": "AFTER INSERT ON identities BEGIN {identity_new} END",
    "search_identities_update": (
        "AFTER UPDATE OF address, display_name, customer_id ON identities"
        " WHEN old.address IS NOT new.address OR old.display_name IS NOT new.display_name"
        " OR old.customer_id IS NOT new.customer_id BEGIN {identity_old} {identity_new} END"
    ),
    "search_identities_delete": "AFTER DELETE ON identities BEGIN {identity_old} END",
}


_REMOVE_MESSAGE = (
    "INSERT INTO search_messages(search_messages, rowid, text, subject)"
    " {select} 'delete', old.id, " + _MESSAGE_FIELDS.format(row="old")
)
_QUEUED = "INSERT OR IGNORE INTO {table}_pending(id) VALUES ({id});"


def _at_commit(template: str) -> str:
    """The triggers since 0014: ids queued for :func:`flush_sqlite_queue`; an indexed
    message's entry removed at once (a queued one has none yet)."""
    unless_queued = " WHERE NOT EXISTS (SELECT 1 FROM search_messages_pending WHERE id = old.id)"
    return template.format(
        add_new=_QUEUED.format(table="search_messages", id="new.id").rstrip(";"),
        remove_old=_REMOVE_MESSAGE.format(select="SELECT") + unless_queued + ";"
        " DELETE FROM search_messages_pending WHERE id = old.id",
        customer_new=_QUEUED.format(table="search_customers", id="new.id"),
        customer_old=_QUEUED.format(table="search_customers", id="old.id"),
        identity_new=_QUEUED.format(table="search_customers", id="new.customer_id"),
        identity_old=_QUEUED.format(table="search_customers", id="old.customer_id"),
    )


def _in_each_statement(template: str) -> str:
    """The triggers of 0011 (what its downgrade restores): every one writes the index."""
    return template.format(
        add_new="INSERT INTO search_messages(rowid, text, subject) VALUES (new.id, "
        + _MESSAGE_FIELDS.format(row="new")
        + ")",
        remove_old=_REMOVE_MESSAGE.format(select="VALUES (") + ")",
        customer_new=_CUSTOMER_ROW.format(id="new.id"),
        customer_old=_CUSTOMER_ROW.format(id="old.id"),
        identity_new=_CUSTOMER_ROW.format(id="new.customer_id"),
        identity_old=_CUSTOMER_ROW.format(id="old.customer_id"),
    )


FLUSH_STATEMENTS = (
    "INSERT INTO search_messages(rowid, text, subject) SELECT messages.id, "
    + _MESSAGE_FIELDS.format(row="messages")
    + " FROM search_messages_pending JOIN messages ON messages.id = search_messages_pending.id",
    "DELETE FROM search_messages_pending",
    "DELETE FROM search_customers WHERE rowid IN (SELECT id FROM search_customers_pending)",
    "INSERT INTO search_customers(rowid, name, addresses)"
    + _CUSTOMER_DOCUMENTS
    + " JOIN search_customers_pending ON search_customers_pending.id = customers.id",
    "DELETE FROM search_customers_pending",
)
_QUEUE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"


def flush_sqlite_queue(raw: sqlite3.Connection) -> None:
    """Index what the transaction's triggers queued: one FTS5 segment per commit.

    Every writer on SQLite calls it just before committing (``SqliteDatabase``
    does); what another writer leaves queued is indexed by the next commit that
    flushes. Without the index (before 0011, or dropped) it does nothing.
    """
    if raw.execute(_QUEUE_EXISTS, ("search_messages_pending",)).fetchone() is None:
        return
    for statement in FLUSH_STATEMENTS:
        raw.execute(statement)


def create_sqlite_queue(conn: Connection) -> None:
    for table in SQLITE_TABLES:
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table}_pending (id INTEGER PRIMARY KEY)")


def drop_sqlite_queue(conn: Connection) -> None:
    for table in SQLITE_TABLES:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}_pending")


def create_sqlite_triggers(conn: Connection, at_commit: bool = True) -> None:
    body = _at_commit if at_commit else _in_each_statement
    for name, template in SQLITE_TRIGGERS.items():
        conn.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS {name} {body(template)}")


def drop_sqlite_triggers(conn: Connection) -> None:
    for name in SQLITE_TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def create_search_index(conn: Connection) -> None:
    """Build the index as 0011 did and fill it with the rows already stored (0014 then
    makes the triggers queue for the commit)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"ALTER TABLE messages ADD COLUMN {PG_MESSAGE_VECTOR} tsvector"
            f" GENERATED ALWAYS AS ({PG_MESSAGE_DOCUMENT}) STORED"
        )
        for name, (table, document) in PG_INDEXES.items():
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} USING gin (({document}))")
        return
    conn.exec_driver_sql(
        f"CREATE VIEW search_message_documents AS SELECT id, substr(text, 1, {SEARCHED_CHARS})"
        " AS text, json_extract(meta, '$.subject') AS subject FROM messages"
    )
    tokenizer = "tokenize = 'unicode61 remove_diacritics 2'"
    conn.exec_driver_sql(
        "CREATE VIRTUAL TABLE search_messages USING fts5(text, subject,"
        f" content = 'search_message_documents', content_rowid = 'id', {tokenizer})"
    )
    conn.exec_driver_sql(
        f"CREATE VIRTUAL TABLE search_customers USING fts5(name, addresses, {tokenizer})"
    )
    conn.exec_driver_sql("INSERT INTO search_messages(search_messages) VALUES ('rebuild')")
    conn.exec_driver_sql(
        f"INSERT INTO search_customers(rowid, name, addresses) {_CUSTOMER_DOCUMENTS}"
    )
    create_sqlite_triggers(conn, at_commit=False)


def index_at_commit(conn: Connection) -> None:
    """0014: the triggers queue, the commit indexes (SQLite; PostgreSQL is unchanged)."""
    if conn.dialect.name == "sqlite":
        drop_sqlite_triggers(conn)
        create_sqlite_queue(conn)
        create_sqlite_triggers(conn)


def index_in_each_statement(conn: Connection) -> None:
    """0014's downgrade: what the queue holds is indexed, then the triggers of 0011."""
    if conn.dialect.name == "sqlite":
        flush_sqlite_queue(conn.connection.dbapi_connection)
        drop_sqlite_triggers(conn)
        drop_sqlite_queue(conn)
        create_sqlite_triggers(conn, at_commit=False)


def drop_search_index(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for name in PG_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql(f"ALTER TABLE messages DROP COLUMN {PG_MESSAGE_VECTOR}")
        return
    drop_sqlite_triggers(conn)
    drop_sqlite_queue(conn)
    for table in SQLITE_TABLES:
        conn.exec_driver_sql(f"DROP TABLE {table}")
    conn.exec_driver_sql("DROP VIEW search_message_documents")


def is_search_index(name: str | None) -> bool:
    """Whether a database object is the search index's (schema comparisons leave these out:
    SQLAlchemy declares neither FTS5 tables nor expression indexes)."""
    return bool(name) and (
        name in PG_INDEXES or name == PG_MESSAGE_VECTOR or name.startswith(SQLITE_TABLES)
    )
