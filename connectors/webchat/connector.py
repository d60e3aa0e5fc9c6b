"""Web chat: the widget's WebSocket endpoint and the widget's files, served by the hub."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientError, WSCloseCode, WSMsgType, web
from pydantic import ValidationError

from connectors.base import (
    Address,
    Connector,
    Delivery,
    HubPort,
    Link,
    OutboundMessage,
)
from connectors.route_docs import RouteDoc
from connectors.verification import CodeRequest, VerificationRefused
from connectors.webchat.limits import Buckets, SocketCounts
from connectors.webchat.protocol import (
    IDENTITY_KIND,
    ClientFrame,
    Code,
    Hello,
    Say,
    Verify,
    claimed_client_id,
    error_frame,
    inbound,
    issue_token,
    signed_links,
    visitor_of,
    widget_message,
)
from connectors.webchat.settings import WebchatChannel

STATIC = Path(__file__).parent / "static"
HISTORY = 100
MAX_FRAME_BYTES = 32 * 1024
SOCKETS_PER_CLIENT = 20
"""Open widget sockets from one client address (a household or office behind one NAT fits)."""
PUSH_SECONDS = 5.0


@dataclass
class Visit:
    """One socket's visitor, once they said hello."""

    visitor: str
    hello: Hello
    links: tuple[Link, ...] = ()
    """What the embedding site signed for this visitor (proof, applied as they write)."""

    @property
    def address(self) -> Address:
        return Address(IDENTITY_KIND, self.visitor)

    @property
    def name(self) -> str | None:
        return self.hello.name or (self.hello.identity.name if self.hello.identity else None)


class WebchatConnector(Connector):
    kind = "webchat"

    def __init__(self, settings: WebchatChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._open_per_client = SocketCounts(SOCKETS_PER_CLIENT)
        self._frames_per_client = Buckets(burst=30, per_second=2)
        """Every frame a client sends (hellos too): a flood of sockets is one client."""
        self._messages_per_visitor = Buckets(burst=10, per_second=1)
        """Messages per visitor token, whichever socket they come on."""

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

    def route_docs(self) -> Iterable[RouteDoc]:
        """The socket; the widget's files and demo page are for browsers, not described."""
        yield RouteDoc(
            "GET",
            f"{self.base_path}/ws",
            f"channel_{self.name}_socket",
            f"The web chat widget's WebSocket (channel {self.name})",
            "channels",
            description="JSON frames: hello, then message (answered by ack), verify and "
            "code; the hub sends welcome, message, ack, code-sent, verified and error. "
            "Open to page origins in allowed_origins; see docs/api.md.",
            statuses=(101,),
            errors=(403, 404, 429),
        )

    def static_file(self, name: str) -> Any:
        async def serve(_request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

        return serve

    async def send(self, message: OutboundMessage) -> Delivery:
        """Relay the reply to every hub process, each pushing it to the visitor's widgets it holds.

        Sent once recorded (the relay commits with the send): a widget open nowhere
        shows it from history later, and a widget that gets it twice shows it once.
        """
        frame = {
            "type": "message",
            "message": {
                "id": message.message_id,
                "from": "agent",
                "text": message.text,
                "at": message.written_at.isoformat() if message.written_at else None,
            },
        }
        if message.choices:
            frame["message"]["choices"] = [{"label": t, "url": u} for t, u in message.choices]
        return Delivery(relay={"visitor": message.to.address, "frame": frame})

    async def listen(self) -> None:
        """Widgets write through ``routes()``; here each reply any hub process sent is pushed
        to the widgets open in this one, in the order sent."""
        await self.push_replies()

    async def push_replies(self) -> None:
        """Push each reply any hub process sent to the widgets open here, in the order sent."""
        async for reply in self.hub.broadcasts(self.name):
            await self.push(reply["visitor"], reply["frame"])

    async def push(self, visitor: str, frame: dict[str, Any]) -> None:
        """Write ``frame`` to each of the visitor's open sockets; a stuck one gets it later.

        One process pushes every reply, so a socket whose client stopped reading
        may hold it up ``PUSH_SECONDS`` at most (the widget reloads its history
        when it reconnects).
        """
        for socket in list(self._sockets.get(visitor, ())):
            if not socket.closed:
                with contextlib.suppress(ConnectionResetError, ClientError, TimeoutError):
                    async with asyncio.timeout(PUSH_SECONDS):
                        await socket.send_json(frame)

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
        client = self.hub.client_key(request)
        if not self._open_per_client.take(client):
            return web.json_response(
                {"error": f"too many open chats from {client}: close some first"}, status=429
            )
        try:
            return await self.converse(request, client)
        finally:
            self._open_per_client.give_back(client)

    async def converse(self, request: web.Request, client: str) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME_BYTES)
        await socket.prepare(request)
        visit: Visit | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                if not self._frames_per_client.allow(client):
                    client_id = claimed_client_id(frame.data)
                    await socket.send_json(error_frame("slow down: try again soon", client_id))
                    continue
                try:
                    parsed = ClientFrame.validate_json(frame.data)
                except ValidationError as error:
                    client_id = claimed_client_id(frame.data)
                    await socket.send_json(error_frame(describe(error), client_id))
                    continue
                if isinstance(parsed, Hello):
                    visit = await self.welcome(socket, parsed, visit)
                elif visit is None:
                    await socket.send_json(error_frame("say hello first"))
                else:
                    await self.answer(socket, visit, parsed, client)
        finally:
            if visit is not None:
                self._forget(visit.visitor, socket)
        return socket

    async def answer(
        self, socket: web.WebSocketResponse, visit: Visit, frame: Say | Verify | Code, client: str
    ) -> None:
        match frame:
            case Say():
                await self.receive(socket, visit, frame)
            case Verify():
                await self.send_code(socket, visit, frame, client)
            case Code():
                await self.check_code(socket, visit, frame)

    async def welcome(
        self, socket: web.WebSocketResponse, hello: Hello, previous: Visit | None
    ) -> Visit:
        key = self.hub.secret_key
        visitor = visitor_of(key, hello.token) if hello.token else None
        token = hello.token
        links = await self.signed(socket, hello)
        if (
            visitor is not None
            and links
            and await self.hub.verifier.belongs_elsewhere(Address(IDENTITY_KIND, visitor), links)
        ):
            visitor = None  # this browser was someone else's: a visitor of their own
        known = visitor is not None
        if visitor is None:
            visitor, token = issue_token(key)
        if previous is not None and previous.visitor != visitor:
            self._forget(previous.visitor, socket)
        self._sockets[visitor].add(socket)
        address = Address(IDENTITY_KIND, visitor)
        history = await self.hub.identity_history(address, HISTORY)
        greeting = await self.hub.greeting(
            self.name, address if known else None, self.settings.team_name, hello.zone, hello.locale
        )
        await socket.send_json(
            {
                "type": "welcome",
                "token": token,
                "title": self.settings.title,
                "history": [widget_message(m) for m in history],
                "signed_in": bool(links),
                "email_codes": self.hub.verifier.can_send_codes(self.name),
                "who_and_when": greeting,
            }
        )
        return Visit(visitor, hello, links)

    async def signed(self, socket: web.WebSocketResponse, hello: Hello) -> tuple[Link, ...]:
        """What the site's signature on ``hello`` proves (nothing, with a note, if it is wrong)."""
        secret = self.settings.identity_secret_env
        if hello.identity is None:
            return ()
        if secret is None:
            await socket.send_json(error_frame("this chat takes no signed identities"))
            return ()
        links = signed_links(self.name, secret.reveal(), hello.identity)
        if links is None:
            await socket.send_json(
                error_frame("the site's identity signature does not match: chatting as a guest")
            )
            return ()
        return links

    def _forget(self, visitor: str, socket: web.WebSocketResponse) -> None:
        self._sockets[visitor].discard(socket)
        if not self._sockets[visitor]:
            del self._sockets[visitor]

    async def receive(self, socket: web.WebSocketResponse, visit: Visit, say: Say) -> None:
        if len(say.text) > self.settings.max_message_chars:
            limit = self.settings.max_message_chars
            await socket.send_json(error_frame(f"over {limit} characters", say.client_id))
            return
        if not self._messages_per_visitor.allow(visit.visitor):
            await socket.send_json(error_frame("slow down: try again soon", say.client_id))
            return
        message = inbound(self.name, visit.visitor, say, visit.hello, visit.links)
        result = await self.hub.ingest(message)
        await socket.send_json(
            {
                "type": "ack",
                "client_id": say.client_id,
                "message_id": result.message_id,
                "duplicate": result.duplicate,
            }
        )

    async def send_code(
        self, socket: web.WebSocketResponse, visit: Visit, verify: Verify, client: str
    ) -> None:
        request = CodeRequest(self.name, visit.visitor, verify.email, client)
        try:
            await self.hub.verifier.send_code(request)
        except VerificationRefused as refused:
            await socket.send_json(error_frame(refused.reason))
            return
        await socket.send_json({"type": "code-sent", "email": verify.email})

    async def check_code(self, socket: web.WebSocketResponse, visit: Visit, code: Code) -> None:
        try:
            email = await self.hub.verifier.check_code(
                self.name, visit.address, visit.name, code.code
            )
        except VerificationRefused as refused:
            await socket.send_json(error_frame(refused.reason))
            return
        await socket.send_json({"type": "verified", "email": email.address})


def describe(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"bad frame: {where}: {first['msg']}" if where else f"bad frame: {first['msg']}"
