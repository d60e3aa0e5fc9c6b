from __future__ import annotations

import io
import re

import pytest

from hub.app import Hub
from tests.conftest import API_TOKEN
from tests.support.hubs import add_agent


@pytest.fixture
async def admin(hub: Hub, browser_factory):
    await add_agent(hub, "admin@example.com", role="admin")
    return await (await browser_factory()).login("admin@example.com")


async def send_raw(browser, method, path, data, content_type="application/json"):
    async with browser.session.request(
        method,
        browser.url(path),
        data=data,
        headers={**browser.headers(), "Content-Type": content_type},
    ) as response:
        return response.status, await response.json()


async def test_malformed_json_gets_400_naming_the_problem(admin):
    status, body = await send_raw(admin, "POST", "/api/admin/agents", b'{"email": ')
    assert status == 400
    assert body["error"].startswith("request body is not valid JSON")


async def test_wrong_types_get_422_naming_each_field(admin):
    status, body = await admin.call(
        "POST", "/api/admin/agents", json={"email": "not-an-email", "name": 5, "password": "x"}
    )
    assert status == 422
    fields = {p["field"] for p in body["problems"]}
    assert fields == {"email", "name", "password"}
    assert "email" in body["error"]


async def test_unknown_field_is_refused_not_ignored(admin):
    status, body = await admin.call("PATCH", "/api/admin/agents/1", json={"is_superuser": True})
    assert status == 422
    assert body["problems"][0]["field"] == "is_superuser"


async def test_null_for_a_field_that_cannot_be_cleared_is_422(admin):
    status, body = await admin.call("PATCH", "/api/admin/agents/1", json={"active": None})
    assert (status, body["problems"]) == (
        422,
        [{"field": "active", "reason": "cannot be null"}],
    )
    assert "active" in body["error"]


async def test_body_over_the_limit_gets_413(admin, hub):
    limit = hub.settings.http.max_body_bytes
    big = b'{"text": "' + b"x" * limit + b'"}'
    status, body = await send_raw(admin, "POST", "/api/conversations/1/notes", io.BytesIO(big))
    assert status == 413
    assert str(limit) in body["error"]


async def test_missing_things_get_404_as_json(admin):
    status, body = await admin.call("GET", "/api/conversations/999")
    assert status == 404
    assert body["error"] == "conversation 999 does not exist"
    status, body = await admin.call("GET", "/api/no-such-endpoint")
    assert status == 404
    assert "error" in body


async def test_duplicate_agent_email_gets_409(admin):
    agent = {"email": "tom@example.com", "name": "Tom", "password": "long enough"}
    await admin.post("/api/admin/agents", agent, expect=201)
    status, body = await admin.call("POST", "/api/admin/agents", json=agent)
    assert status == 409
    assert "tom@example.com" in body["error"]


async def test_bad_query_parameter_gets_422(admin):
    status, body = await admin.call("GET", "/api/conversations?state=sleeping")
    assert status == 422
    assert body["problems"][0]["field"] == "state"


async def test_nul_characters_get_422_naming_where_they_are(admin):
    """PostgreSQL text cannot hold NUL: refuse it up front on every backend, never a 500."""
    status, body = await admin.call("GET", "/api/admin/customers?q=a%00b")
    assert (status, body["problems"]) == (
        422,
        [{"field": "q", "reason": "NUL characters are not allowed in text"}],
    )
    agent = {"email": "tom@example.com", "name": "T\u0000m", "password": "long enough"}
    status, body = await admin.call("POST", "/api/admin/agents", json=agent)
    assert (status, body["problems"][0]["field"]) == (422, "name")


async def test_openapi_document_lists_every_endpoint(admin, hub):
    from hub.api.routes import api

    document = await admin.get("/api/openapi.json")
    assert document["openapi"].startswith("3.")
    operations = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    declared = {(e.method, re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", e.path)) for e in api.endpoints}
    assert declared | {("GET", "/api/events"), ("POST", "/channels/sms/messages")} <= operations
    assert ("POST", "/api/conversations/{conversation_id}/replies") in operations
    reply = document["paths"]["/api/conversations/{conversation_id}/replies"]["post"]
    assert reply["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ReplyIn")
    assert "ReplyIn" in document["components"]["schemas"]


@pytest.mark.parametrize("depth", [100_000, 950])
async def test_json_nested_too_deep_gets_400_naming_the_problem(admin, depth):
    """100,000 levels overflow the parser; 950 parse but overflow anything recursing over them."""
    body = b'{"email": ' + b"[" * depth + b"]" * depth + b"}"
    answers = [
        await send_raw(admin, "POST", "/api/admin/agents", body),
        await send_raw(admin, "POST", "/api/login", body),
    ]
    async with admin.session.post(
        admin.url("/channels/sms/messages"),
        data=body,
        headers={"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"},
    ) as response:
        answers.append((response.status, await response.json()))
    too_deep = {"error": "request body is JSON nested deeper than 64 levels"}
    assert answers == [(400, too_deep)] * 3


async def test_a_calendar_key_of_unicode_digits_gets_422_not_a_server_error(admin):
    """'²' counts as a digit to str.isdigit but is no list index (schemathesis found it)."""
    hours = {"zone": "UTC", "exceptions": {"\u00b2": [], "\u0662": []}}
    status, body = await admin.call("PUT", "/api/admin/hours", json={"hours": hours})
    assert status == 422, body
    fields = {p["field"] for p in body["problems"]}
    assert fields == {"hours.exceptions.\u00b2", "hours.exceptions.\u0662"}
