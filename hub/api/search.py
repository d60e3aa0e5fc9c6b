"""``GET /api/search``: full-text search across every channel (``hub/search.py``)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from hub.api.answers import Answer
from hub.api.framework import Access, Api, Call
from hub.api.models import Id, Input
from hub.errors import BadRequest
from hub.search import Search, SearchFilter, search, search_terms

search_api = Api()


class SearchQuery(Input):
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = (
        Field(description="words to find, each as a whole word (all of them); no operators")
    )
    channel: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="only messages on this channel (customers: last written on it)"
    )
    owner_id: Id | None = Field(None, description="only customers this agent owns")
    state: Literal["open", "resolved"] | None = Field(None, description="the conversation's")
    since: AwareDatetime | None = Field(
        None, alias="from", description="written at or after (customers: last wrote)"
    )
    until: AwareDatetime | None = Field(None, alias="to", description="written before")
    tag: Id | None = Field(None, description="only conversations carrying this tag (its id)")
    limit: int = Field(20, ge=1, le=100, description="most messages answered")


class SnippetPart(Answer):
    text: str
    match: bool = Field(description="a searched word: show it marked")


class CustomerRef(Answer):
    id: int
    name: str


class Hit(Answer):
    conversation_id: int
    state: str
    customer: CustomerRef
    owner_id: int | None
    channel: str | None
    at: str = Field(description="the message's time; for a customer, their last message's")
    field: Literal["text", "subject", "name", "address"] = Field(description="where it matched")
    snippet: list[SnippetPart] = Field(
        description="the matching passage as plain text parts; render them as text, not HTML"
    )


class MessageHit(Hit):
    message_id: int
    direction: Literal["in", "out", "note"]


class SearchAnswer(Answer):
    terms: list[str] = Field(description="the words searched for")
    customers: list[Hit] = Field(description="customers whose name or address matches, best first")
    messages: list[MessageHit] = Field(description="messages and notes, best first")


@search_api.route(
    "GET",
    "/api/search",
    summary="Search messages, email subjects, notes, customers' names and addresses in the "
    "conversations I may see (admins: all), ranked, with highlighted snippets",
    access=Access.AGENT,
    tag="inbox",
    query=SearchQuery,
    response=SearchAnswer,
)
async def search_everything(call: Call) -> dict[str, Any]:
    query: SearchQuery = call.query
    if query.since and query.until and query.since >= query.until:
        raise BadRequest("from must be before to")
    wanted = Search(
        search_terms(query.q),
        SearchFilter(
            query.channel, query.owner_id, query.state, query.since, query.until, query.tag
        ),
        query.limit,
    )
    return await call.hub.db.read(partial(search, call.agent, wanted))
