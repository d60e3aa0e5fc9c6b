"""How a route mounted outside the declared API (a channel's webhook, a socket, health)
appears in the OpenAPI document; ``hub/api/openapi.py`` writes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Raw:
    """A success answered as something other than JSON (a file, a page, a text format)."""

    media_type: str
    description: str


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    description: str = ""
    parameters: tuple[dict[str, Any], ...] = ()
    """OpenAPI parameter objects (query, header)."""
    body: Any = None
    """The JSON body's model, if the route takes one."""
    response: Any = None
    """The success answer: a model, :class:`Raw`, or None (no content)."""
    statuses: tuple[int, ...] = (200,)
    """The success statuses; 101: the route switches to a WebSocket."""
    errors: tuple[int, ...] = ()
    security: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Security schemes by name; the caller must satisfy one of them."""


@runtime_checkable
class DescribesRoutes(Protocol):
    """A connector with ``routes()`` says here how each appears in the document
    (``tests/test_openapi.py`` fails on a route that is left out)."""

    def route_docs(self) -> Iterable[RouteDoc]: ...
