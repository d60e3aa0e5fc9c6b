"""Small real HTTP servers standing in for the platforms the hub talks to."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"id": "peer-1"})
    headers: dict[str, str] = field(default_factory=dict)


class RecordingPeer:
    """Records every request; answers from a script, then with ``default``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Answer] = deque()
        self.default = Answer()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.method == "POST":
            self.received.append(Received(request.path, dict(request.headers), body))
        answer = self.script.popleft() if self.script else self.default
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    def url(self, path: str = "/") -> str:
        return str(self.server.make_url(path))

    async def __aenter__(self) -> RecordingPeer:
        await self.server.start_server()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.server.close()
