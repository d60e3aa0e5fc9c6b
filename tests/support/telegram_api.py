"""A small local Telegram Bot API server for the real python-telegram-bot ``Bot``.

It binds to port 0, records every request (``/bot<token>/<method>``, form or
JSON bodies), answers ``{"ok": true, "result": ...}``, long-polls getUpdates,
serves files under ``/file/bot<token>/``, and answers scripted errors on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Shop", "username": "shop_support_bot"}
START = 1_772_442_000  # 2026-03-02 09:00 UTC, the FakeClock's start


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    token: str
    """The token in the URL: tells hub processes given different tokens apart."""
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """The files a multipart call carried, by field: (file name, bytes)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def too_many_requests(retry_after: int = 1) -> Answer:
    return Answer(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {retry_after}",
            "parameters": {"retry_after": retry_after},
        },
    )


def blocked() -> Answer:
    return Answer(
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )


def server_error() -> Answer:
    return Answer(500, {"ok": False, "error_code": 500, "description": "Internal Server Error"})


def decoded(value: str) -> Any:
    """PTB sends every parameter as a form field; lists, objects and numbers JSON-encoded."""
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass
class FakeBotApi:
    token: str
    also_accepted: tuple[str, ...] = ()
    """More tokens taken as this same bot's (one per hub process in scale-out tests)."""
    calls: list[Call] = field(default_factory=list)
    scripted: dict[str, list[Answer | None]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(500))
    _server: TestServer | None = None

    async def __aenter__(self) -> FakeBotApi:
        app = web.Application(client_max_size=64 * 1024 * 1024)  # the Bot API takes 50 MB
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        await self._server.close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/bot"))

    def script(self, method: str, *answers: Answer | None) -> None:
        """The next calls of ``method`` get these answers in order (``None``: the normal one)."""
        self.scripted.setdefault(method, []).extend(answers)

    async def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (kept until a later offset confirms it)."""
        async with self._arrived:
            self._updates.append(update)
            self._arrived.notify_all()

    def called(self, method: str) -> list[dict[str, Any]]:
        return [c.params for c in self.calls if c.method == method]

    async def _api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token not in (self.token, *self.also_accepted):
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        files: dict[str, tuple[str, bytes]] = {}
        if request.content_type == "application/json":
            params = await request.json()
        else:
            form = await request.post()
            params = {k: decoded(v) for k, v in form.items() if isinstance(v, str)}
            files = {
                k: (v.filename, v.file.read())
                for k, v in form.items()
                if isinstance(v, web.FileField)
            }
        self.calls.append(Call(method, params, token, files))
        answer = self.scripted[method].pop(0) if self.scripted.get(method) else None
        if answer is not None:
            return web.json_response(answer.body, status=answer.status)
        result = await self._result(method, params)
        return web.json_response({"ok": True, "result": result})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        match method:
            case "getMe":
                return BOT_USER
            case "setWebhook" | "deleteWebhook":
                return True
            case "sendMessage":
                return {
                    "message_id": next(self._message_ids),
                    "date": START,
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "from": BOT_USER,
                    "text": params["text"],
                }
            case "sendPhoto" | "sendDocument":
                file_id = f"sent-{len(self.calls)}"
                sent = {"file_id": file_id, "file_unique_id": f"u-{file_id}"}
                attached = (
                    {"photo": [{**sent, "width": 1, "height": 1}]}
                    if method == "sendPhoto"
                    else {"document": sent}
                )
                return {
                    "message_id": next(self._message_ids),
                    "date": START,
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    "from": BOT_USER,
                    **({"caption": params["caption"]} if params.get("caption") else {}),
                    **attached,
                }
            case "getUpdates":
                return await self._long_poll(int(params.get("offset", 0)), params.get("timeout", 0))
            case "getFile":
                file_id = params["file_id"]
                return {
                    "file_id": file_id,
                    "file_unique_id": f"u-{file_id}",
                    "file_size": len(self.files[file_id]),
                    "file_path": f"documents/{file_id}",
                }
        raise web.HTTPNotFound(text=json.dumps({"ok": False, "description": "Not Found"}))

    async def _long_poll(self, offset: int, wait_seconds: float) -> list[dict[str, Any]]:
        def pending() -> list[dict[str, Any]]:
            return [u for u in self._updates if u["update_id"] >= offset]

        async with self._arrived:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not pending():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait_for(pending), float(wait_seconds))
            return pending()

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if request.match_info["token"] != self.token or file_id not in self.files:
            raise web.HTTPNotFound()
        return web.Response(body=self.files[file_id])


def private_message(
    update_id: int,
    message_id: int,
    text: str | None = "Hello, my order has not arrived",
    user_id: int = 777001,
    **extra: Any,
) -> dict[str, Any]:
    """An update as Telegram sends it for a message in a private chat with the bot."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": START,
        "chat": {"id": user_id, "type": "private", "first_name": "Ada", "username": "ada_l"},
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "username": "ada_l",
        },
        **extra,
    }
    if text is not None:
        message["text"] = text
    return {"update_id": update_id, "message": message}
