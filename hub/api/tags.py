"""Tags: admins keep the list, every agent reads it and tags the conversations they may see."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from hub.api.answers import Deleted, Tag
from hub.api.framework import Access, Api, Call
from hub.api.models import Input
from hub.db.schema_tags import TAG_NAME_CHARS
from hub.tags import add_tag, create_tag, delete_tag, list_tags, remove_tag, update_tag

tags_api = Api()
ADMIN_TAG = "/api/admin/tags/{tag_id:\\d+}"
CONVERSATION_TAG = "/api/conversations/{conversation_id:\\d+}/tags/{tag_id:\\d+}"

TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_NAME_CHARS)
]
Colour = Annotated[
    str,
    StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"),
    Field(description="#rrggbb (stored in lower case)", examples=["#1f77b4"]),
]


class TagIn(Input):
    name: TagName = Field(description="unique whatever its case")
    colour: Colour


class TagChange(Input):
    name: TagName | None = None
    colour: Colour | None = None


@tags_api.route(
    "GET",
    "/api/tags",
    summary="The tags agents can put on conversations (admins keep the list)",
    access=Access.AGENT,
    tag="inbox",
    response=list[Tag],
)
async def tags(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.read(list_tags)


@tags_api.route(
    "GET",
    "/api/admin/tags",
    summary="The tags agents can put on conversations",
    access=Access.ADMIN,
    tag="admin",
    response=list[Tag],
)
async def admin_tags(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.read(list_tags)


@tags_api.route(
    "POST",
    "/api/admin/tags",
    summary="Add a tag (409 if one of that name exists, whatever its case)",
    access=Access.ADMIN,
    tag="admin",
    body=TagIn,
    status=201,
    response=Tag,
)
async def add_admin_tag(call: Call) -> dict[str, Any]:
    body: TagIn = call.body
    return await call.hub.db.write(partial(create_tag, call.agent.agent_id, body.name, body.colour))


@tags_api.route(
    "PATCH",
    ADMIN_TAG,
    summary="Rename or recolour a tag (conversations carrying it show the change)",
    access=Access.ADMIN,
    tag="admin",
    body=TagChange,
    response=Tag,
)
async def change_admin_tag(call: Call) -> dict[str, Any]:
    body: TagChange = call.body
    return await call.hub.db.write(
        partial(update_tag, call.agent.agent_id, call.path_int("tag_id"), body.name, body.colour)
    )


@tags_api.route(
    "DELETE",
    ADMIN_TAG,
    summary="Delete a tag, taking it off every conversation that carries it",
    access=Access.ADMIN,
    tag="admin",
    response=Deleted,
)
async def remove_admin_tag(call: Call) -> dict[str, Any]:
    return await call.hub.db.write(
        partial(delete_tag, call.agent.agent_id, call.path_int("tag_id"))
    )


@tags_api.route(
    "PUT",
    CONVERSATION_TAG,
    summary="Put one of the admins' tags on a conversation I may see; answers its tags",
    access=Access.AGENT,
    tag="inbox",
    response=list[Tag],
)
async def tag_conversation(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.write(
        partial(add_tag, call.agent, call.path_int("conversation_id"), call.path_int("tag_id"))
    )


@tags_api.route(
    "DELETE",
    CONVERSATION_TAG,
    summary="Take a tag off a conversation I may see; answers its tags",
    access=Access.AGENT,
    tag="inbox",
    response=list[Tag],
)
async def untag_conversation(call: Call) -> list[dict[str, Any]]:
    return await call.hub.db.write(
        partial(remove_tag, call.agent, call.path_int("conversation_id"), call.path_int("tag_id"))
    )
