"""The agent's inbox: conversations, replies, notes, resolve and reopen, customers, bodies."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import Connection, exists, select

from connectors.media import safe_media_type
from connectors.route_docs import Raw
from hub.api.answers import (
    ChannelRef,
    ConversationDetail,
    ConversationListed,
    ConversationSummary,
    CustomerPanel,
    Message,
)
from hub.api.framework import Access, Api, Call
from hub.api.models import BodyQuery, ConversationsQuery, NoteIn, ReplyIn
from hub.api.satisfaction import asking_of
from hub.auth import Principal
from hub.conversations import (
    check_access,
    conversation_detail,
    customer_rules,
    mark_read,
    post_note,
    post_reply,
)
from hub.db.columns import LARGEST_INTEGER
from hub.db.schema import attachments, conversations, customers, messages
from hub.email_body import body_document, body_policy
from hub.errors import Forbidden, NotFound
from hub.inbox_views import ConversationFilter, customer_panel, list_conversations
from hub.satisfaction import reopen_and_withdraw, resolve_and_ask, satisfaction_of
from hub.serialize import iso
from hub.service_windows import WINDOWED_KINDS, window_notice, windows_of
from hub.tags import tags_of
from hub.uploads import ReplyFiles
from routing.contact import quiet_until

inbox_api = Api()
CONVERSATION = "/api/conversations/{conversation_id:\\d+}"


@inbox_api.route(
    "GET",
    "/api/conversations",
    summary="My conversations (those I handle or whose customer I own), each with a preview "
    "of its last message, its held count and its tags; ?q= searches names, addresses and "
    "texts, ?tag= keeps those carrying a tag",
    access=Access.AGENT,
    tag="inbox",
    query=ConversationsQuery,
    response=list[ConversationListed],
)
async def my_conversations(call: Call) -> list[dict[str, Any]]:
    query: ConversationsQuery = call.query
    if query.scope == "all" and not call.agent.is_admin:
        raise Forbidden("only admins can list every agent's conversations")
    wanted = ConversationFilter(
        query.state, query.scope == "all", query.q or None, query.limit, query.tag
    )
    return await call.hub.db.read(
        partial(list_conversations, call.agent, wanted, call.hub.clock.now())
    )


@inbox_api.route(
    "GET",
    CONVERSATION,
    summary="One conversation: its cross-channel history and where a reply goes by default",
    access=Access.AGENT,
    tag="inbox",
    response=ConversationDetail,
)
async def conversation(call: Call) -> dict[str, Any]:
    conversation_id = call.path_int("conversation_id")

    def load(conn: Connection) -> dict[str, Any]:
        detail = conversation_detail(call.agent, conversation_id, conn)
        return {
            **detail,
            "tags": tags_of(conn, [conversation_id])[conversation_id],
            "satisfaction": satisfaction_of(conn, conversation_id),
            "service_windows": with_hours_open(
                conn,
                detail["customer"]["id"],
                windows_of(conn, conversation_id, windowed_channels(call), call.hub.clock.now()),
                call.hub.clock.now(),
            ),
        }

    return await call.hub.db.read(load)


@inbox_api.route(
    "POST",
    CONVERSATION + "/replies",
    summary="Reply to the customer (queued, then sent), with files uploaded for it",
    access=Access.AGENT,
    tag="inbox",
    body=ReplyIn,
    status=202,
    response=Message,
)
async def reply(call: Call) -> dict[str, Any]:
    body: ReplyIn = call.body
    message = await call.hub.db.write(
        partial(
            post_reply,
            call.agent,
            call.path_int("conversation_id"),
            body.text,
            body.identity_id,
            call.hub.channels_by_kind,
            send_now=body.send_now,
            files=ReplyFiles(tuple(body.attachment_ids), call.hub.connectors),
        )
    )
    notice = await call.hub.db.read(
        partial(
            window_notice, reply=message, channels=windowed_channels(call), now=call.hub.clock.now()
        )
    )
    return {**message, "window_notice": notice} if notice else message


def with_hours_open(
    conn: Connection, customer_id: int, windows: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The windows, each with when a reply written now would wait until (the customer's
    contact hours on that channel): the agent must choose when those open after it closes."""
    opens = {
        channel: iso(quiet_until(customer_rules(conn, customer_id, channel), now))
        for channel in {window["channel"] for window in windows}
    }
    return [{**window, "hours_open_at": opens[window["channel"]]} for window in windows]


def windowed_channels(call: Call) -> set[str]:
    """The channels whose platform allows free-form replies only inside a window."""
    return {n for n, c in call.hub.connectors.items() if c.kind in WINDOWED_KINDS}


@inbox_api.route(
    "POST",
    CONVERSATION + "/notes",
    summary="Internal note, never sent to the customer",
    access=Access.AGENT,
    tag="inbox",
    body=NoteIn,
    status=201,
    response=Message,
)
async def note(call: Call) -> dict[str, Any]:
    body: NoteIn = call.body
    return await call.hub.db.write(
        partial(post_note, call.agent, call.path_int("conversation_id"), body.text)
    )


@inbox_api.route(
    "POST",
    CONVERSATION + "/read",
    summary="Mark everything in the conversation read",
    access=Access.AGENT,
    tag="inbox",
)
async def read(call: Call) -> None:
    await call.hub.db.write(partial(mark_read, call.agent, call.path_int("conversation_id")))


@inbox_api.route(
    "POST",
    CONVERSATION + "/resolve",
    summary="Resolve the conversation (and queue its one satisfaction question, where asked)",
    access=Access.AGENT,
    tag="inbox",
    response=ConversationSummary,
)
async def resolve(call: Call) -> dict[str, Any]:
    return await call.hub.db.write(
        partial(resolve_and_ask, call.agent, call.path_int("conversation_id"), asking_of(call.hub))
    )


@inbox_api.route(
    "POST",
    CONVERSATION + "/reopen",
    summary="Reopen a resolved conversation (its satisfaction question, if still waiting for "
    "the customer's hours, is withdrawn)",
    access=Access.AGENT,
    tag="inbox",
    response=ConversationSummary,
)
async def reopen(call: Call) -> dict[str, Any]:
    return await call.hub.db.write(
        partial(reopen_and_withdraw, call.agent, call.path_int("conversation_id"))
    )


def check_customer_visible(principal: Principal, customer_id: int, conn: Connection) -> None:
    if principal.is_admin:
        return
    mine = conn.execute(
        select(
            exists().where(
                customers.c.id == customer_id,
                (customers.c.owner_id == principal.agent_id)
                | (customers.c.backup_id == principal.agent_id),
            )
            | exists().where(
                conversations.c.customer_id == customer_id,
                conversations.c.assignee_id == principal.agent_id,
            )
        )
    ).scalar()
    if not mine:
        raise Forbidden(f"customer {customer_id} is not yours: ask their owner or an admin")


@inbox_api.route(
    "GET",
    "/api/customers/{customer_id:\\d+}",
    summary="A customer I own, cover for or handle: identities, owner and backup by name, and "
    "their contact hours now (by the hub's clock): open or closed, next opening or closing",
    access=Access.AGENT,
    tag="inbox",
    response=CustomerPanel,
)
async def customer(call: Call) -> dict[str, Any]:
    customer_id = call.path_int("customer_id")

    def load(conn: Connection) -> dict[str, Any]:
        check_customer_visible(call.agent, customer_id, conn)
        return customer_panel(customer_id, call.hub.clock.now(), conn)

    return await call.hub.db.read(load)


@inbox_api.route(
    "GET",
    "/api/messages/{message_id:\\d+}/attachments/{position:\\d+}",
    summary="Download a file that came with a message (served as an attachment, never inline)",
    access=Access.AGENT,
    tag="inbox",
    response=Raw("application/octet-stream", "the file, as an attachment"),
)
async def attachment(call: Call) -> web.Response:
    message_id = call.path_int("message_id")
    position = call.path_int("position")

    def load(conn: Connection) -> Any:
        check_message_visible(conn, call.agent, message_id)
        found = (
            None
            if position > LARGEST_INTEGER
            else conn.execute(
                select(attachments).where(
                    attachments.c.message_id == message_id, attachments.c.position == position
                )
            ).first()
        )
        if found is None:
            raise NotFound(f"message {message_id} has no attachment {position}")
        if found.data is None:
            raise NotFound(f"attachment {found.name!r} was over the size limit and not stored")
        return found

    found = await call.hub.db.read(load)
    return web.Response(
        body=found.data,
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}",
            "Content-Security-Policy": "sandbox",
            # Rows stored before content types were checked may hold anything.
            "X-Original-Content-Type": safe_media_type(found.content_type),
        },
    )


def check_message_visible(conn: Connection, principal: Principal, message_id: int) -> None:
    """A message is visible to whoever may see its conversation."""
    conversation_id = conn.execute(
        select(messages.c.conversation_id).where(messages.c.id == message_id)
    ).scalar()
    if conversation_id is None:
        raise NotFound(f"message {message_id} does not exist")
    check_access(conn, principal, conversation_id)


@inbox_api.route(
    "GET",
    "/api/messages/{message_id:\\d+}/body.html",
    summary="A message's HTML body, sanitized, for a sandboxed frame in the inbox; "
    "remote images load only with ?images=1",
    access=Access.AGENT,
    tag="inbox",
    query=BodyQuery,
    response=Raw("text/html", "the sanitized body in a page of its own"),
)
async def message_body(call: Call) -> web.Response:
    message_id = call.path_int("message_id")
    query: BodyQuery = call.query

    def load(conn: Connection) -> str:
        check_message_visible(conn, call.agent, message_id)
        html = conn.execute(select(messages.c.html).where(messages.c.id == message_id)).scalar()
        if html is None:
            raise NotFound(f"message {message_id} has no HTML body")
        return html

    html = await call.hub.db.read(load)
    return web.Response(
        text=body_document(html),
        content_type="text/html",
        headers={
            "Content-Security-Policy": body_policy(query.images),
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-cache",
        },
    )


@inbox_api.route(
    "GET",
    "/api/channels",
    summary="The channels replies can leave on: name and kind (for the inbox's icons)",
    access=Access.AGENT,
    tag="inbox",
    response=list[ChannelRef],
)
async def channels(call: Call) -> list[dict[str, str]]:
    return [
        {"name": name, "kind": connector.kind} for name, connector in call.hub.connectors.items()
    ]
