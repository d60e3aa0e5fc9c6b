"""A local Slack Web API for the real slack_sdk client: records calls, answers from a script.

It is also the Socket Mode server: ``apps.connections.open`` answers
``ws://<host>:<port>/socket``, where envelopes are pushed and acks recorded.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

TEAM_ID = "T0SHOP"
BOT_USER_ID = "U0HUBBOT"
BOT_ID = "B0HUBBOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    authorization: str | None = None


@dataclass
class Scripted:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class SlackApi:
    """``/api/<method>``: auth.test, users.info, chat.postMessage, conversations.open,
    apps.connections.open; ``/socket``: the Socket Mode WebSocket."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._ts = 1_772_442_000
        self.sockets: list[web.WebSocketResponse] = []
        self.acks: list[dict[str, Any]] = []
        self._socket_open = asyncio.Event()
        self._acked = asyncio.Condition()
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.handle)
        app.router.add_get("/socket", self.socket)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("/api/"))

    def script(self, method: str, *answers: Scripted) -> None:
        self.scripts[method].extend(answers)

    def add_user(self, user_id: str, name: str, email: str | None = None) -> None:
        profile: dict[str, Any] = {"real_name": name, "display_name": name}
        if email:
            profile["email"] = email
        self.users[user_id] = {"id": user_id, "name": name.lower(), "profile": profile}

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw and request.content_type == "application/json":
            args.update(json.loads(raw))
        elif raw:
            args.update(await request.post())
        self.calls.append(Call(method, args, request.headers.get("Authorization")))
        if self.scripts[method]:
            answer = self.scripts[method].popleft()
            if isinstance(answer.body, (dict, list)):
                return web.json_response(answer.body, status=answer.status, headers=answer.headers)
            return web.Response(
                text=answer.body or "", status=answer.status, headers=answer.headers
            )
        return web.json_response(self.answer(method, args))

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://shop.slack.com/",
                    "team": "Shop",
                    "user": "hubbot",
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                }
            case "users.info":
                user = self.users.get(str(args.get("user")))
                return (
                    {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}
                )
            case "chat.postMessage":
                self._ts += 1
                return {"ok": True, "channel": args.get("channel"), "ts": f"{self._ts}.000100"}
            case "conversations.open":
                return {"ok": True, "channel": {"id": "D" + str(args.get("users"))[1:]}}
            case "apps.connections.open":
                return {"ok": True, "url": str(self.server.make_url("/socket").with_scheme("ws"))}
        return {"ok": True}

    # Socket Mode

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self._socket_open.set()
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    async with self._acked:
                        self.acks.append(json.loads(frame.data))
                        self._acked.notify_all()
        finally:
            self.sockets.remove(ws)
        return ws

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send an envelope to the connected client (waits for it to connect)."""
        await asyncio.wait_for(self._socket_open.wait(), 5)
        await self.sockets[-1].send_json(envelope)

    async def ack_for(self, envelope_id: str) -> dict[str, Any]:
        """The client's ack of ``envelope_id``, once it came (5 s at most)."""

        def found() -> dict[str, Any] | None:
            return next((a for a in self.acks if a.get("envelope_id") == envelope_id), None)

        async with asyncio.timeout(5), self._acked:
            await self._acked.wait_for(found)
        ack = found()
        assert ack is not None
        return ack

    async def __aenter__(self) -> SlackApi:
        await self.server.start_server()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for ws in list(self.sockets):
            await ws.close()
        await self.server.close()


def signed_headers(secret: str, body: bytes, timestamp: float | None = None) -> dict[str, str]:
    """What Slack sends: ``v0=HMAC_SHA256(secret, "v0:{ts}:{body}")``."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }
