"""Web chat: the widget's WebSocket endpoint and the widget's files, served by the hub."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientError, WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from config.schema import WebchatChannel
from connectors.base import Address, Connector, Delivery, HubPort, OutboundMessage
from connectors.webchat.protocol import (
    IDENTITY_KIND,
    ClientFrame,
    Hello,
    Say,
    claimed_client_id,
    error_frame,
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
                with contextlib.suppress(ConnectionResetError, ClientError):
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
        """A listed origin, or the hub's own pages (the demo page) whatever the list says."""
        allowed = self.settings.allowed_origins
        origin = request.headers.get("Origin")
        if "*" in allowed or origin in allowed:
            return True
        return origin is not None and urlsplit(origin).netloc == request.host

    async def visitor_socket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_allowed(request):
            return web.json_response(
                {"error": f"origin {request.headers.get('Origin')} may not use this widget"},
                status=403,
            )
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await socket.prepare(request)
        visitor: str | None = None
        hello: Hello | None = None
        rate = SendRate()
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    parsed = ClientFrame.validate_json(frame.data)
                except ValidationError as error:
                    client_id = claimed_client_id(frame.data)
                    await socket.send_json(error_frame(describe(error), client_id))
                    continue
                if isinstance(parsed, Hello):
                    visitor, hello = await self.welcome(socket, parsed, visitor), parsed
                elif visitor is None or hello is None:
                    await socket.send_json(error_frame("say hello first"))
                else:
                    await self.receive(socket, visitor, hello, parsed, rate)
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
        hello: Hello,
        say: Say,
        rate: SendRate,
    ) -> None:
        if len(say.text) > self.settings.max_message_chars:
            limit = self.settings.max_message_chars
            await socket.send_json(error_frame(f"over {limit} characters", say.client_id))
            return
        if not rate.allow():
            await socket.send_json(error_frame("slow down: try again soon", say.client_id))
            return
        result = await self.hub.ingest(inbound(self.name, visitor, say, hello))
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
