"""A thin layer over aiohttp: declared endpoints, validated bodies, one error shape.

Every endpoint says who may call it, what body and query it takes and what it
answers; the same declaration checks requests and writes the OpenAPI document
(``hub/api/openapi.py``), so the document cannot drift from the code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from config.schema import located_errors
from connectors.route_docs import Raw
from hub.auth import CSRF_HEADER, SESSION_COOKIE, Principal, csrf_ok, find_principal
from hub.clients import foreign_origin
from hub.errors import (
    Forbidden,
    HubError,
    NotFound,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)
HUB_KEY: web.AppKey[Hub] = web.AppKey("hub")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MAX_JSON_DEPTH = 64
"""No endpoint takes deeper bodies; deeper ones would overflow the parser or the checks."""
FORM_ROOM = 64 * 1024
"""What a file upload's form may add to the file (boundaries, part headers)."""
M = TypeVar("M", bound=BaseModel)


class Access(StrEnum):
    PUBLIC = "public"
    AGENT = "agent"
    ADMIN = "admin"


@dataclass
class Call:
    """What a handler gets: the request, the hub, who is calling, the validated input."""

    request: web.Request
    hub: Hub
    principal: Principal | None
    body: Any
    query: Any

    @property
    def agent(self) -> Principal:
        assert self.principal is not None, "endpoint declared PUBLIC reads the agent"
        return self.principal

    def path_int(self, name: str) -> int:
        """A numeric path segment (the route's pattern admits digits only)."""
        raw = self.request.match_info[name]
        if len(raw) > 15:
            raise NotFound(f"no {name.removesuffix('_id')} has id {raw}")
        return int(raw)


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class FileUpload:
    """A body of one file as ``multipart/form-data`` (the part named ``field``): the handler
    streams it in up to ``http.max_upload_bytes`` and names the file when it is larger, so
    ``http.max_body_bytes`` does not apply."""

    field: str = "file"
    description: str = "the file"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    access: Access
    body: type[BaseModel] | FileUpload | None
    query: type[BaseModel] | None
    tag: str
    status: int
    before_two_factor: bool
    """Open to an agent who must still set up two-factor sign-in (their own account only)."""
    response: Any = None
    """What a success answers: a model or ``list[Model]`` (JSON), :class:`Raw`, or None (204)."""
    operation_id: str | None = None
    """The OpenAPI operationId when one handler serves several paths; else the handler's name."""


class Api:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        access: Access,
        tag: str,
        body: type[BaseModel] | FileUpload | None = None,
        query: type[BaseModel] | None = None,
        status: int = 200,
        before_two_factor: bool = False,
        response: Any = None,
        operation_id: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    handler,
                    summary,
                    access,
                    body,
                    query,
                    tag,
                    status,
                    before_two_factor,
                    response,
                    operation_id,
                )
            )
            return handler

        return register

    def include(self, other: Api) -> None:
        self.endpoints.extend(other.endpoints)

    def mount(self, app: web.Application) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(endpoint.method, endpoint.path, _wrap(endpoint))


def _wrap(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        hub = request.app[HUB_KEY]
        principal = await authenticate(request, hub, endpoint.access, endpoint.before_two_factor)
        if endpoint.access is Access.PUBLIC and endpoint.body:
            refuse_cross_site_form(request, hub.public_url)
        model = endpoint.body if isinstance(endpoint.body, type) else None
        body = await read_model(request, model) if model else None
        query = validate(endpoint.query, dict(request.query), "(query)") if endpoint.query else None
        result = await endpoint.handler(Call(request, hub, principal, body, query))
        if isinstance(result, web.StreamResponse):
            return result
        if (drift := answer_drift(endpoint, result)) is not None:
            log.error("%s %s answered outside its documented shape: %s", *drift)
            if endpoint.method not in UNSAFE_METHODS:
                raise AnswerDrift(endpoint)
        if result is None:
            return web.Response(status=204)
        return web.json_response(result, status=endpoint.status, dumps=_dumps)

    handle.endpoint = endpoint  # type: ignore[attr-defined]
    return handle


def body_limit(request: web.Request) -> int:
    """``http.max_body_bytes``; for a file upload, its own limit and room for the form."""
    http = request.app[HUB_KEY].settings.http
    return http.max_upload_bytes + FORM_ROOM if streams_a_file(request) else http.max_body_bytes


def streams_a_file(request: web.Request) -> bool:
    """Whether the request's endpoint reads its body as a file upload (its own limit)."""
    endpoint = getattr(request.match_info.handler, "endpoint", None)
    return isinstance(endpoint, Endpoint) and isinstance(endpoint.body, FileUpload)


def answer_drift(endpoint: Endpoint, result: Any) -> tuple[str, str, str] | None:
    """Where a success answer leaves the shape the OpenAPI document gives it, else None.

    That is our bug. The endpoint and the fields are named, never their values
    (they may be message text). After a read, the client gets a 500; after a
    write, which happened, the answer still goes out (a client told 500 would
    try again, and a reply would reach the customer twice) and the drift is
    only logged.
    """
    if isinstance(endpoint.response, Raw):
        return None
    if endpoint.response is None:
        return None if result is None else _drift(endpoint, "an answer where none is documented")
    try:
        _answer_adapter(endpoint.response).validate_python(result)
    except ValidationError as error:
        where = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(answer)'}: {e['type']}" for e in error.errors()
        )
        return _drift(endpoint, where)
    return None


def _drift(endpoint: Endpoint, where: str) -> tuple[str, str, str]:
    return endpoint.method, endpoint.path, where[:2000]


@cache
def _answer_adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


class AnswerDrift(HubError):
    status = 500

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(f"{endpoint.method} {endpoint.path} answered outside its documented shape")


async def authenticate(
    request: web.Request, hub: Hub, access: Access, before_two_factor: bool = False
) -> Principal | None:
    """Who is calling, or why they may not (401; 403, also until two-factor is set up)."""
    if access is Access.PUBLIC:
        return None
    token, via_cookie = presented_token(request)
    principal = None
    if token:
        principal = await hub.db.read(
            lambda conn: find_principal(token, via_cookie, hub.clock.now(), conn)
        )
    if principal is None:
        raise Unauthorized("sign in first: no valid session or bearer token")
    if request.method in UNSAFE_METHODS and not csrf_ok(
        principal, request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden(f"missing or wrong {CSRF_HEADER} header for a cookie session")
    if principal.must_enrol and not before_two_factor:
        raise TwoFactorRequired()
    if access is Access.ADMIN and not principal.is_admin:
        raise Forbidden("this endpoint is for admins")
    return principal


def refuse_cross_site_form(request: web.Request, public_url: str) -> None:
    """Signing in takes JSON from our own pages only.

    A form on another site can post ``text/plain`` to us without asking
    (no CORS preflight) and so sign a visitor in to the attacker's account,
    whose inbox would then collect what the visitor types (login CSRF).
    JSON cannot be sent cross-site without a preflight, which we never allow.
    """
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"send JSON (Content-Type: application/json), not {request.content_type}"
        )
    origin = foreign_origin(request, public_url)
    if origin is not None:
        raise Forbidden(f"signing in from another site ({origin}) is refused")


class TwoFactorRequired(Forbidden):
    """The team requires two-factor sign-in and this agent has not set it up yet."""

    def __init__(self) -> None:
        super().__init__(
            "two-factor sign-in is required for everyone: set it up on your account page first",
            two_factor="enrol",
        )


def presented_token(request: web.Request) -> tuple[str | None, bool]:
    """The session token (bearer header first, else the cookie) and whether it is the cookie."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    return request.cookies.get(SESSION_COOKIE), True


async def read_model(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, or a 400/413/422 naming the problem."""
    raw = await request.read()
    too_deep = HubError(f"request body is JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HubError(f"request body is not valid JSON: {error}") from None
    except RecursionError:
        raise too_deep from None
    if nesting_depth(data) > MAX_JSON_DEPTH:
        raise too_deep
    return validate(model, data)


def nesting_depth(data: Any) -> int:
    """How deep lists and objects nest in parsed JSON, found without recursion."""
    deepest = 0
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in value)
    return deepest


def validate(model: type[M], data: Any, whole: str = "(body)") -> M:
    """``data`` as ``model``; ``whole`` names the input in a problem about all of it."""
    if where := nul_character_at(data):
        problem = {"field": where, "reason": "NUL characters are not allowed in text"}
        raise Unprocessable(f"invalid input: {where}: {problem['reason']}", problems=[problem])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidInput(error, whole) from None


def nul_character_at(data: Any, path: str = "") -> str | None:
    """Where in ``data`` a string holds a NUL character, which no database text column takes."""
    if isinstance(data, str):
        return (path or "(body)") if "\x00" in data else None
    children = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in children:
        if found := nul_character_at(value, f"{path}.{key}" if path else str(key)):
            return found
    return None


class InvalidInput(HubError):
    status = 422

    def __init__(self, error: ValidationError, whole: str) -> None:
        problems = [
            {
                "field": ".".join(str(p) for p in e["loc"]) or whole,
                "reason": e["msg"].removeprefix("Value error, "),
            }
            for e in located_errors(error.errors())
        ]
        summary = "; ".join(f"{p['field']}: {p['reason']}" for p in problems)
        super().__init__(f"invalid input: {summary}", problems=problems)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error leaves as JSON with a status and a message that names the problem.

    A body declared larger than the limit is refused before any handler runs,
    so endpoints that never read their body answer 413 as well.
    """
    limit = body_limit(request)
    too_large = {"error": f"request body too large: the limit is {limit} bytes"}
    if (request.content_length or 0) > limit:
        return web.json_response(too_large, status=413)
    try:
        return await handler(request)
    except HubError as error:
        return web.json_response(error.to_json(), status=error.status)
    except web.HTTPRequestEntityTooLarge:
        return web.json_response(too_large, status=413)
    except web.HTTPException as error:
        if error.status < 400 or not request.path.startswith(("/api/", "/channels/")):
            raise
        return web.json_response(
            {"error": error.reason or "request failed"}, status=error.status, headers=_allow(error)
        )


def _allow(error: web.HTTPException) -> dict[str, str]:
    allow = error.headers.get("Allow")
    return {"Allow": allow} if allow else {}
