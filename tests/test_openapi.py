"""The OpenAPI document: valid, complete (every route of a hub with every channel kind), and
true (what the hub really answers fits the schemas it documents)."""

from __future__ import annotations

import re
from importlib.metadata import version
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage
from hub.api.framework import HUB_KEY, Access, Api, Call, json_errors
from hub.app import Hub
from hub.conversation_access import load_access
from hub.db.database import Tx
from hub.db.schema import messages, satisfaction_surveys
from hub.demo import seed_demo
from hub.satisfaction import Asking, queue_question
from hub.web.pages import ACCOUNT
from tests.conftest import ENVIRON
from tests.support.hubs import Browser

EVERY_CHANNEL_ENVIRON = {
    **ENVIRON,
    "SLACK_BOT": "xoxb-0000-test",
    "SLACK_SIGNING": "0123456789abcdef0123456789abcdef",
    "TG_TOKEN": "123456:" + "A" * 35,
    "TG_SECRET": "webhook-secret",
    "TWILIO_TOKEN": "twilio-auth-token",
    "WA_TOKEN": "whatsapp-access-token",
    "WA_SECRET": "whatsapp-app-secret",
    "WA_VERIFY": "whatsapp-verify-token",
}
EVERY_CHANNEL = [
    {"kind": "webchat", "name": "webchat"},
    {
        "kind": "api",
        "name": "sms",
        "token_env": "SMS_TOKEN",
        "identity_kind": "phone",
        "callback_secret_env": "SMS_CALLBACK_SECRET",
    },
    {
        "kind": "email",
        "name": "mail",
        "address": "support@example.com",
        "smtp_out": {"host": "127.0.0.1", "port": 9, "security": "none"},
    },
    {
        "kind": "slack",
        "name": "slack",
        "bot_token_env": "SLACK_BOT",
        "signing_secret_env": "SLACK_SIGNING",
        "base_url": "http://127.0.0.1:9/api/",
    },
    {
        "kind": "telegram",
        "name": "tg",
        "token_env": "TG_TOKEN",
        "webhook_secret_env": "TG_SECRET",
        "base_url": "http://127.0.0.1:9/bot",
    },
    {
        "kind": "twilio",
        "name": "text",
        "account_sid": "AC" + "0" * 32,
        "auth_token_env": "TWILIO_TOKEN",
        "from_number": "+14155550100",
        "base_url": "http://127.0.0.1:9",
    },
    {
        "kind": "whatsapp",
        "name": "whatsapp",
        "phone_number_id": "106540352242922",
        "access_token_env": "WA_TOKEN",
        "app_secret_env": "WA_SECRET",
        "verify_token_env": "WA_VERIFY",
        "base_url": "http://127.0.0.1:9",
    },
]
PAGES_AND_FILES = {
    # Pages and static files for browsers, not API: the document leaves them out.
    ("GET", "/"),
    ("GET", "/admin"),
    ("GET", ACCOUNT),
    ("GET", "/reports"),
    ("GET", "/satisfaction/{token}"),
    ("GET", "/static/{name}"),
    ("GET", "/favicon.ico"),
    ("GET", "/webchat/webchat/widget.js"),
    ("GET", "/webchat/webchat/widget.css"),
    ("GET", "/webchat/webchat/demo"),
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A hub with every channel kind, each serving its routes (so the document has them all)."""
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "metrics": {"token_env": "METRICS_TOKEN"},
            "channels": EVERY_CHANNEL,
        },
        context={"environ": EVERY_CHANNEL_ENVIRON},
    )


@pytest.fixture
async def admin(hub: Hub, browser_factory) -> Browser:
    assert await seed_demo(hub)
    return await (await browser_factory()).login("admin@example.com", "admin-demo")


async def test_the_document_is_valid_openapi_with_the_package_version(admin: Browser) -> None:
    document = await admin.get("/api/openapi.json")
    validate(document)
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in ops(item)]
    assert len(operation_ids) == len(set(operation_ids))
    assert document["info"]["version"] == version("omnichannel-hub")
    rules = document["paths"]["/api/admin/channels/{name}/rules"]["get"]["parameters"]
    assert rules[0]["schema"]["type"] == "string"
    conversation = document["paths"]["/api/conversations/{conversation_id}"]["get"]
    assert conversation["parameters"][0]["schema"]["type"] == "integer"


def ops(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [item[m] for m in ("get", "put", "post", "patch", "delete") if m in item]


async def test_every_route_of_the_app_is_described(admin: Browser, server: TestServer):
    document = await admin.get("/api/openapi.json")
    described = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    routes = {
        (route.method, re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.resource.canonical))
        for route in server.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    assert {"/channels/sms/messages", "/slack/slack/events", "/telegram/tg/webhook"} <= {
        path for _, path in routes
    }
    assert routes - PAGES_AND_FILES - described == set()
    assert described - routes == set()


async def test_every_operation_declares_its_success_answer(admin: Browser) -> None:
    document = await admin.get("/api/openapi.json")
    for path, item in document["paths"].items():
        for operation in ops(item):
            success = [code for code in operation["responses"] if code.startswith(("1", "2"))]
            assert success, (path, operation["operationId"])
            answer = operation["responses"][success[0]]
            assert code_is_bodyless(success[0]) or answer.get("content"), (path, success)


def code_is_bodyless(code: str) -> bool:
    return code in ("101", "204")


async def test_every_get_answers_what_the_document_says(admin: Browser, hub: Hub) -> None:
    """On a demo hub, with an entry in each list, every JSON answer fits its documented schema
    (and so do the answers of the writes that put the entries there)."""
    document = await admin.get("/api/openapi.json")
    values = await fill_every_list(Documented(admin, document), hub)
    checked = []
    for path, item in document["paths"].items():
        if "get" in item and json_schema(item["get"], "200") is not None:
            query = "?scope=all" if path in SCOPED else QUERIES.get(path, "")
            await Documented(admin, document).call("GET", path.format(**values) + query, path)
            checked.append(path)
    assert len(checked) > 25


SCOPED = {"/api/conversations", "/api/held", "/api/scheduled"}
QUERIES = {"/api/search": "?q=hi"}
"""Paths whose query must say something: what each is called with."""
SATURDAYS_ONLY = {"zone": "Europe/London", "weekly": {"sat": ["10:00-12:00"]}}


def json_schema(operation: dict[str, Any], status: str) -> dict[str, Any] | None:
    content = operation["responses"].get(status, {}).get("content", {})
    return content.get("application/json", {}).get("schema")


class Documented:
    """Calls whose answers must fit the schema the document gives for their status."""

    def __init__(self, browser: Browser, document: dict[str, Any]) -> None:
        self.browser = browser
        self.document = document

    async def call(self, method: str, url: str, path: str, body: Any = None) -> Any:
        status, answer = await self.browser.call(method, url, body)
        operation = self.document["paths"][path][method.lower()]
        assert str(status) in operation["responses"], (method, url, status, answer)
        assert status < 300, (method, url, status, answer)
        schema = json_schema(operation, str(status))
        assert schema is not None, (method, path, status)
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        problems = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(answer)
        ]
        assert problems == [], (method, path)
        return answer


async def fill_every_list(api: Documented, hub: Hub) -> dict[str, Any]:
    """Something in each list a GET answers, and the ids its paths take."""
    await hub.quarantine("sms", b"not json", "not a message")
    await api.call("POST", "/api/admin/canned-responses", "/api/admin/canned-responses", CANNED)
    await api.call("POST", "/api/me/absences", "/api/me/absences", {"reason": "holiday"})
    await api.call("PUT", "/api/admin/hours", "/api/admin/hours", {"hours": SATURDAYS_ONLY})
    rules = "/api/admin/channels/{name}/rules"
    await api.call("PUT", rules.format(name="sms"), rules, {"hours": SATURDAYS_ONLY})
    customers = await api.call("GET", "/api/admin/customers", "/api/admin/customers")
    hours = "/api/customers/{customer_id}/contact-hours"
    await api.call(
        "PUT", hours.format(customer_id=customers[0]["id"]), hours, {"hours": SATURDAYS_ONLY}
    )
    conversations = await api.call("GET", "/api/conversations?scope=all", "/api/conversations")
    lena = next(c for c in conversations if c["customer"]["id"] == customers[0]["id"])
    replies = "/api/conversations/{conversation_id}/replies"
    reply = {"text": "We will look into it."}
    answer = await api.call("POST", replies.format(conversation_id=lena["id"]), replies, reply)
    assert answer["state"] == "scheduled"
    tag = await api.call("POST", "/api/admin/tags", "/api/admin/tags", TAG)
    tagging = "/api/conversations/{conversation_id}/tags/{tag_id}"
    await api.call("PUT", tagging.format(conversation_id=lena["id"], tag_id=tag["id"]), tagging)
    await hub.ingest(customer_writes_out_of_hours())
    quarantined = await api.call("GET", "/api/admin/quarantine", "/api/admin/quarantine")
    return {
        "token": await asked_in(hub, lena["id"]),
        "agent_id": api.browser.agent["id"],
        "customer_id": customers[0]["id"],
        "conversation_id": lena["id"],
        "quarantine_id": quarantined[0]["id"],
        "name": "sms",
    }


CANNED = {"title": "Hi", "text": "Hello!"}
TAG = {"name": "VIP", "colour": "#d62728"}


async def asked_in(hub: Hub, conversation_id: int) -> str:
    """The token of a satisfaction question queued in the conversation (its link's last part)."""
    questions = dict.fromkeys(hub.connectors, "How did we do?")
    asking = Asking(questions, hub.channels_by_kind, hub.secret_key, "http://hub.example")

    def ask(tx: Tx) -> None:
        queue_question(tx, load_access(tx.conn, conversation_id), asking)

    await hub.db.write(ask)
    text = await hub.db.read(
        lambda conn: conn.execute(
            select(messages.c.text).join(
                satisfaction_surveys, satisfaction_surveys.c.message_id == messages.c.id
            )
        ).scalar_one()
    )
    return text.rsplit("/", 1)[1]


def customer_writes_out_of_hours() -> InboundMessage:
    return InboundMessage(
        channel="sms", external_id="m-1", sender=Address("phone", "+4915112345678"), text="Hi?"
    )


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int


async def test_an_answer_outside_its_model_is_logged_without_values_and_fails_only_reads(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    """A read that drifts gets a 500; a write that drifts happened, so its answer still goes
    out (a client told 500 would do it again). Either way the log names fields, not values."""
    api = Api()

    @api.route("GET", "/drift", summary="read", access=Access.PUBLIC, tag="t", response=Answer)
    async def read(_call: Call) -> dict[str, Any]:
        return {"count": "secret text"}

    @api.route("POST", "/drift", summary="write", access=Access.PUBLIC, tag="t", response=Answer)
    async def write(_call: Call) -> dict[str, Any]:
        return {"count": 1, "extra": "secret text"}

    app = web.Application(middlewares=[json_errors])
    app[HUB_KEY] = hub
    api.mount(app)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as session:
        async with session.get(server.make_url("/drift")) as response:
            assert response.status == 500
            assert await response.json() == {
                "error": "GET /drift answered outside its documented shape"
            }
        async with session.post(server.make_url("/drift")) as response:
            assert response.status == 200
            assert await response.json() == {"count": 1, "extra": "secret text"}
    drifts = [r.getMessage() for r in caplog.records if "documented shape" in r.getMessage()]
    assert drifts == [
        "GET /drift answered outside its documented shape: count: int_parsing",
        "POST /drift answered outside its documented shape: extra: extra_forbidden",
    ]
    assert "secret text" not in caplog.text
