"""Web chat: the widget's WebSocket endpoint and the widget's files, served by the hub."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from config.schema import WebchatChannel
from connectors.base import Address, Connector, Delivery, HubPort, OutboundMessage
from connectors.webchat.protocol import (
    IDENTITY_KIND,
    ClientFrame,
    Hello,
    Say,
    inbound,
    issue_token,
    visitor_of,
    widget_message,
)

STATIC = Path(__file__).parent / "static"
HISTORY = 100
MAX_FRAME_BYTES = 32 * 1024
BURST = 10
PER_SECOND = 1.0


class SendRate:
    """A token bucket: bursts of ``BURST`` messages, then one a second."""

    def __init__(self) -> None:
        self.tokens = float(BURST)
        self.at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.at) * PER_SECOND)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class WebchatConnector(Connector):
    kind = "webchat"

    def __init__(self, settings: WebchatChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND

    @property
    def base_path(self) -> str:
        return f"/webchat/{self.name}"

    def routes(self) -> Iterable[web.RouteDef]:
        return [
            web.get(f"{self.base_path}/ws", self.visitor_socket),
            web.get(f"{self.base_path}/widget.js", self.static_file("widget.js")),
            web.get(f"{self.base_path}/widget.css", self.static_file("widget.css")),
            web.get(f"{self.base_path}/demo", self.static_file("demo.html")),
        ]

    def static_file(self, name: str) -> Any:
        async def serve(_request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

        return serve

    async def send(self, message: OutboundMessage) -> Delivery:
        """Push to the visitor's open widgets; a closed widget shows it from history later."""
        frame = {
            "type": "message",
            "message": {
                "id": message.message_id,
                "from": "agent",
                "text": message.text,
                "at": datetime.now(UTC).isoformat(),
            },
        }
        for socket in list(self._sockets.get(message.to.address, ())):
            if not socket.closed:
                await socket.send_json(frame)
        return Delivery()

    async def test_connection(self) -> str:
        visitors = sum(1 for sockets in self._sockets.values() if sockets)
        return f"web chat ready; {visitors} visitor(s) connected now"

    async def stop(self) -> None:
        await self.close_client_connections()

    async def close_client_connections(self) -> None:
        for sockets in list(self._sockets.values()):
            for socket in list(sockets):
                await socket.close(code=WSCloseCode.GOING_AWAY, message=b"hub restarting")
        self._sockets.clear()

    def origin_allowed(self, request: web.Request) -> bool:
        allowed = self.settings.allowed_origins
        return "*" in allowed or request.headers.get("Origin") in allowed

    async def visitor_socket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_allowed(request):
            return web.json_response(
                {"error": f"origin {request.headers.get('Origin')} may not use this widget"},
                status=403,
            )
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await socket.prepare(request)
        visitor: str | None = None
        name: str | None = None
        rate = SendRate()
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    parsed = ClientFrame.validate_json(frame.data)
                except ValidationError as error:
                    await socket.send_json({"type": "error", "error": describe(error)})
                    continue
                if isinstance(parsed, Hello):
                    visitor, name = await self.welcome(socket, parsed, visitor), parsed.name
                elif visitor is None:
                    await socket.send_json({"type": "error", "error": "say hello first"})
                else:
                    await self.receive(socket, visitor, name, parsed, rate)
        finally:
            if visitor is not None:
                self._sockets[visitor].discard(socket)
                if not self._sockets[visitor]:
                    del self._sockets[visitor]
        return socket

    async def welcome(
        self, socket: web.WebSocketResponse, hello: Hello, previous: str | None
    ) -> str:
        key = self.hub.secret_key
        visitor = visitor_of(key, hello.token) if hello.token else None
        token = hello.token
        if visitor is None:
            visitor, token = issue_token(key)
        if previous is not None and previous != visitor:
            self._sockets[previous].discard(socket)
        self._sockets[visitor].add(socket)
        history = await self.hub.identity_history(Address(IDENTITY_KIND, visitor), HISTORY)
        await socket.send_json(
            {
                "type": "welcome",
                "token": token,
                "title": self.settings.title,
                "history": [widget_message(m) for m in history],
            }
        )
        return visitor

    async def receive(
        self,
        socket: web.WebSocketResponse,
        visitor: str,
        name: str | None,
        say: Say,
        rate: SendRate,
    ) -> None:
        if len(say.text) > self.settings.max_message_chars:
            limit = self.settings.max_message_chars
            await socket.send_json(
                {"type": "error", "client_id": say.client_id, "error": f"over {limit} characters"}
            )
            return
        if not rate.allow():
            await socket.send_json(
                {"type": "error", "client_id": say.client_id, "error": "slow down: try again soon"}
            )
            return
        result = await self.hub.ingest(inbound(self.name, visitor, say, name))
        await socket.send_json(
            {
                "type": "ack",
                "client_id": say.client_id,
                "message_id": result.message_id,
                "duplicate": result.duplicate,
            }
        )


def describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"bad frame: {where}: {first['msg']}" if where else f"bad frame: {first['msg']}"
