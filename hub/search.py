"""Full-text search across every channel: messages (text and email subject), notes,
customers' names and addresses, through the index of ``hub/db/search_index.py``.

Read units only; the index is written by the database itself in each write's
transaction. Each of the user's words is quoted before it reaches FTS5 or
``phraseto_tsquery``, so no search syntax comes from the user: every word must
be found, as a word (or a phrase, for ``e-mail``), case and accents aside.

Ranking is by relevance (FTS5's bm25, PostgreSQL's ts_rank) among the newest
``CANDIDATES`` matches the agent may see, so a word in half the history costs
what a rare one does; snippets are made for the hits answered only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
    union,
)

from hub.auth import Principal
from hub.db.schema import conversations, customers, identities, messages
from hub.db.search_index import (
    PG_CONFIG,
    PG_CUSTOMER_DOCUMENT,
    PG_IDENTITY_DOCUMENT,
    PG_MESSAGE_VECTOR,
    SEARCHED_CHARS,
)
from hub.errors import BadRequest
from hub.inbox_views import handled_or_owned_by
from hub.search_snippets import MARK, UNMARK, marked_passage, snippet_parts
from hub.serialize import iso
from hub.tags import tagged

CANDIDATES = 200
CUSTOMER_HITS = 10
MAX_TERMS = 12
WORD = re.compile(r"[^\W_]")
SNIPPET_WORDS = 16

search_messages = table("search_messages", column("rowid"))
search_customers = table("search_customers", column("rowid"))


@dataclass(frozen=True)
class SearchFilter:
    channel: str | None = None
    owner_id: int | None = None
    state: str | None = None
    since: datetime | None = None
    """Inclusive."""
    until: datetime | None = None
    """Exclusive."""
    tag_id: int | None = None

    def where(self, channel: Any, at: Any) -> list[Any]:
        """The filters as where-clauses; ``channel`` and ``at``: the columns a hit's channel
        and time are in (a message's, or for a customer, their conversation's)."""
        clauses = self.conversation_clauses()
        if self.channel:
            clauses.append(channel == self.channel)
        if self.since:
            clauses.append(at >= self.since)
        if self.until:
            clauses.append(at < self.until)
        return clauses

    def conversation_clauses(self) -> list[Any]:
        """Filters on the conversation and its customer."""
        clauses: list[Any] = []
        if self.tag_id:
            clauses.append(tagged(self.tag_id))
        if self.owner_id:
            clauses.append(customers.c.owner_id == self.owner_id)
        if self.state:
            clauses.append(conversations.c.state == self.state)
        return clauses


@dataclass(frozen=True)
class Search:
    terms: tuple[str, ...]
    filter: SearchFilter
    limit: int


def search_terms(q: str) -> tuple[str, ...]:
    """The words searched for: whitespace-separated, those with a letter or digit."""
    terms = tuple(dict.fromkeys(term for term in q.split() if WORD.search(term)))
    if not terms:
        raise BadRequest("search for at least one word with letters or digits")
    if len(terms) > MAX_TERMS:
        raise BadRequest(f"search for at most {MAX_TERMS} words")
    return terms


def search(principal: Principal, wanted: Search, conn: Connection) -> dict[str, Any]:
    """Customers and messages the agent may see that have every word, best first."""
    dialect = _POSTGRES if conn.dialect.name == "postgresql" else _SQLITE
    visible = [] if principal.is_admin else [handled_or_owned_by(principal.agent_id)]
    return {
        "terms": list(wanted.terms),
        "customers": dialect.customers(wanted, visible, conn),
        "messages": dialect.messages(wanted, visible, conn),
    }


def _marked(snippet: str | None) -> bool:
    return bool(snippet) and MARK in snippet


def _conversation_columns() -> list[Any]:
    return [
        conversations.c.id.label("conversation_id"),
        conversations.c.state,
        customers.c.id.label("customer_id"),
        customers.c.name.label("customer_name"),
        customers.c.owner_id,
    ]


def _hit_base(row: Any) -> dict[str, Any]:
    return {
        "conversation_id": row.conversation_id,
        "state": row.state,
        "customer": {"id": row.customer_id, "name": row.customer_name},
        "owner_id": row.owner_id,
    }


def _message_candidates(
    wanted: Search, visible: list[Any], source: Any, match: Any, rank: Any, newest_first: Any
) -> Select:
    """The newest matches the agent may see, each with its rank, best ranked first."""
    newest = (
        select(
            messages.c.id.label("message_id"),
            messages.c.direction,
            messages.c.channel,
            messages.c.created_at,
            *_conversation_columns(),
            rank.label("rank"),
        )
        .select_from(source)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(match, *visible, *wanted.filter.where(messages.c.channel, messages.c.created_at))
        .order_by(newest_first.desc())
        .limit(CANDIDATES)
        .subquery()
    )
    return select(newest).order_by(newest.c.rank, newest.c.message_id.desc()).limit(wanted.limit)


def _message_hits(
    rows: list[Any], snippets: dict[int, tuple[str | None, str | None]]
) -> list[dict[str, Any]]:
    hits = []
    for row in rows:
        body, subject = snippets.get(row.message_id, (None, None))
        field, shown = (
            ("subject", subject) if _marked(subject) and not _marked(body) else ("text", body)
        )
        hits.append(
            {
                **_hit_base(row),
                "message_id": row.message_id,
                "direction": row.direction,
                "channel": row.channel,
                "at": iso(row.created_at),
                "field": field,
                "snippet": snippet_parts(shown or ""),
            }
        )
    return hits


def _customer_hits(
    rows: Iterable[tuple[Any, str | None, str | None]],
) -> list[dict[str, Any]]:
    """One hit per customer (their latest matching conversation), best first; each row with
    its name and addresses marked."""
    hits: dict[int, dict[str, Any]] = {}
    for row, name, addresses in rows:
        if row.customer_id in hits or len(hits) == CUSTOMER_HITS:
            continue
        field, shown = ("name", name) if _marked(name) else ("address", addresses)
        hits[row.customer_id] = {
            **_hit_base(row),
            "channel": row.last_channel,
            "at": iso(row.last_message_at),
            "field": field,
            "snippet": snippet_parts(shown or ""),
        }
    return list(hits.values())


def _customer_query(
    wanted: Search, visible: list[Any], source: Any, match: Any, *extra: Any
) -> Select:
    return (
        select(
            *_conversation_columns(),
            conversations.c.last_channel,
            conversations.c.last_message_at,
            *extra,
        )
        .select_from(source)
        .join(conversations, conversations.c.customer_id == customers.c.id)
        .where(
            match,
            *visible,
            *wanted.filter.where(conversations.c.last_channel, conversations.c.last_message_at),
        )
        .limit(CANDIDATES)
    )


class _Sqlite:
    """FTS5: a MATCH expression of quoted phrases."""

    @staticmethod
    def match_expression(terms: tuple[str, ...]) -> str:
        return " ".join('"' + term.replace('"', '""') + '"' for term in terms)

    def messages(
        self, wanted: Search, visible: list[Any], conn: Connection
    ) -> list[dict[str, Any]]:
        match = self.match_expression(wanted.terms)
        query = _message_candidates(
            wanted,
            visible,
            search_messages.join(messages, messages.c.id == search_messages.c.rowid),
            text("search_messages MATCH :match").bindparams(match=match),
            literal_column("bm25(search_messages, 1.0, 2.0)"),
            search_messages.c.rowid,
        )
        rows = conn.execute(query).all()
        ids = [row.message_id for row in rows]
        snippets = {}
        if ids:
            found = conn.execute(
                text(
                    "SELECT rowid, snippet(search_messages, 0, :mark, :unmark, '…', :words),"
                    " highlight(search_messages, 1, :mark, :unmark) FROM search_messages"
                    " WHERE search_messages MATCH :match AND rowid IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {
                    "mark": MARK,
                    "unmark": UNMARK,
                    "words": SNIPPET_WORDS,
                    "match": match,
                    "ids": ids,
                },
            )
            snippets = {rowid: (body, subject) for rowid, body, subject in found}
        return _message_hits(rows, snippets)

    def customers(
        self, wanted: Search, visible: list[Any], conn: Connection
    ) -> list[dict[str, Any]]:
        match = text("search_customers MATCH :match").bindparams(
            match=self.match_expression(wanted.terms)
        )
        marked = [
            literal_column(f"highlight(search_customers, 0, '{MARK}', '{UNMARK}')").label(
                "name_marked"
            ),
            literal_column(
                f"snippet(search_customers, 1, '{MARK}', '{UNMARK}', '…', {SNIPPET_WORDS})"
            ).label("addresses_marked"),
        ]
        source = search_customers.join(customers, customers.c.id == search_customers.c.rowid)
        query = _customer_query(wanted, visible, source, match, *marked)
        query = query.order_by(
            literal_column("bm25(search_customers)"), conversations.c.last_message_at.desc()
        )
        return _customer_hits(
            (row, row.name_marked, row.addresses_marked) for row in conn.execute(query)
        )


class _Postgres:
    """PostgreSQL: every word a ``phraseto_tsquery``, all of them required."""

    @staticmethod
    def tsquery(terms: tuple[str, ...]) -> Any:
        config = literal_column(f"'{PG_CONFIG}'::regconfig")
        query = func.phraseto_tsquery(config, terms[0])
        for term in terms[1:]:
            query = query.op("&&")(func.phraseto_tsquery(config, term))
        return query

    def messages(
        self, wanted: Search, visible: list[Any], conn: Connection
    ) -> list[dict[str, Any]]:
        query = self.tsquery(wanted.terms)
        document = literal_column(f"messages.{PG_MESSAGE_VECTOR}")
        rows = conn.execute(
            _message_candidates(
                wanted,
                visible,
                messages,
                document.op("@@")(query),
                -func.ts_rank(document, query),
                messages.c.id,
            )
        ).all()
        ids = [row.message_id for row in rows]
        snippets = {}
        if ids:
            found = conn.execute(
                select(
                    messages.c.id,
                    func.left(messages.c.text, SEARCHED_CHARS),
                    messages.c.meta.op("->>")("subject"),
                ).where(messages.c.id.in_(ids))
            )
            snippets = {
                message_id: (
                    marked_passage(body, wanted.terms, SNIPPET_WORDS),
                    marked_passage(subject, wanted.terms),
                )
                for message_id, body, subject in found
            }
        return _message_hits(rows, snippets)

    def customers(
        self, wanted: Search, visible: list[Any], conn: Connection
    ) -> list[dict[str, Any]]:
        query = self.tsquery(wanted.terms)
        name_document = literal_column(PG_CUSTOMER_DOCUMENT)
        by_name_or_address = union(
            select(customers.c.id).where(name_document.op("@@")(query)),
            select(identities.c.customer_id).where(
                literal_column(PG_IDENTITY_DOCUMENT).op("@@")(query)
            ),
        )
        addresses = (
            select(
                func.string_agg(
                    identities.c.address + " " + func.coalesce(identities.c.display_name, ""), " "
                )
            )
            .where(identities.c.customer_id == customers.c.id)
            .scalar_subquery()
        )
        match = customers.c.id.in_(by_name_or_address)  # each side by its index, not an OR
        rows = conn.execute(
            _customer_query(
                wanted, visible, customers, match, addresses.label("addresses")
            ).order_by(
                func.ts_rank(name_document, query).desc(), conversations.c.last_message_at.desc()
            )
        ).all()
        return _customer_hits(
            (
                row,
                marked_passage(row.customer_name, wanted.terms),
                marked_passage(row.addresses, wanted.terms, SNIPPET_WORDS),
            )
            for row in rows
        )


_SQLITE = _Sqlite()
_POSTGRES = _Postgres()
