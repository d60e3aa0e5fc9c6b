"""Hostile input: who may call what (every endpoint x four callers), size limits, fuzzing.

The authorization matrix is built from the routes the hub actually serves, so
a new endpoint is checked the day it is added.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import sys
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from connectors.base import Address, InboundMessage
from hub.api.framework import FORM_ROOM, Access, Endpoint
from hub.api.routes import api
from hub.app import Hub
from tests.support.hubs import PASSWORD, add_agent

PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
RESOURCE_PARAMS = {"conversation_id", "customer_id", "message_id"}
DENIED = {401, 403}
SAMPLE_FIELDS: dict[str, object] = {
    "text": "hello",
    "hours": None,
    "email": "new@example.com",
    "name": "New",
    "password": "a long enough password",
    "to_agent_id": 1,
    "kind": "email",
    "address": "c@example.com",
    "merge_customer_id": 1,
    "away": False,
    "title": "Greeting",
    "enabled": True,
    "require_two_factor": False,
    "challenge": "not-a-challenge",
    "enrolment": "not-an-enrolment",
    "code": "123456",
    "reason": "sick",
    "agreed_channel": None,
    "colour": "#1f77b4",
    "confirm": "not their name",
    "score": 3,
}
FUZZ_TIMEOUT_SECONDS = 300
"""The run is bounded by examples, not time, so a busy machine makes it slower, never smaller."""


@dataclass(frozen=True)
class World:
    """Maria's customer, conversation and message; Bob serves nobody; an admin."""

    tokens: dict[str, str]
    ids: dict[str, int]


async def token_for(server: TestServer, email: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.make_url("/api/tokens"), json={"email": email, "password": PASSWORD}
        ) as response,
    ):
        assert response.status == 201, await response.text()
        return (await response.json())["token"]


@pytest.fixture
async def world(hub: Hub, server: TestServer) -> World:
    """Maria is the only agent when the customer first writes, so she becomes the owner."""
    ids = {"maria": await add_agent(hub, "maria@example.com")}
    result = await hub.ingest(
        InboundMessage(
            channel="webchat", external_id="m-1", sender=Address("webchat", "v-1"), text="hi"
        )
    )
    ids["bob"] = await add_agent(hub, "bob@example.com")
    ids["admin"] = await add_agent(hub, "admin@example.com", role="admin")
    tokens = {
        name: await token_for(server, f"{name}@example.com") for name in ("admin", "maria", "bob")
    }
    reply_id = await marias_reply(server, tokens["maria"], result.conversation_id)
    ids |= {
        "conversation_id": result.conversation_id,
        "customer_id": result.customer_id,
        "message_id": reply_id,
        "agent_id": ids["maria"],
    }
    return World(tokens, ids)


async def marias_reply(server: TestServer, token: str, conversation_id: int) -> int:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session,
        session.post(
            server.make_url(f"/api/conversations/{conversation_id}/replies"),
            json={"text": "on it"},
        ) as response,
    ):
        assert response.status == 202, await response.text()
        return (await response.json())["id"]


def sample_body(endpoint: Endpoint) -> dict[str, object]:
    """A body that passes validation, so a refusal cannot hide behind a 422."""
    if not isinstance(endpoint.body, type):
        return {}  # none, or a file upload (refused as JSON with 415)
    fields = endpoint.body.model_fields
    return {name: SAMPLE_FIELDS[name] for name, f in fields.items() if f.is_required()}


def concrete_path(endpoint: Endpoint, ids: dict[str, int]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return "webchat" if name == "name" else str(ids.get(name, 0))

    return PARAM.sub(fill, endpoint.path)


def touches_marias_things(endpoint: Endpoint) -> bool:
    return bool(set(PARAM.findall(endpoint.path)) & RESOURCE_PARAMS)


def expected_denial(endpoint: Endpoint, caller: str) -> int | None:
    """The status the caller must get, or None when the caller must get past the checks."""
    if endpoint.access is Access.PUBLIC or caller == "admin":
        return None
    if caller == "anonymous":
        return 401
    if endpoint.access is Access.ADMIN:
        return 403
    if caller == "bob" and touches_marias_things(endpoint):
        return 403
    return None


def matrix_order(endpoint: Endpoint) -> tuple[bool, str]:
    """Signing out last, so the callers' tokens stay valid for the rest of the matrix."""
    return (endpoint.path == "/api/logout", endpoint.path)


async def test_every_admin_path_is_declared_admin_only():
    assert len(api.endpoints) >= 35
    for endpoint in api.endpoints:
        if endpoint.path.startswith("/api/admin/"):
            assert endpoint.access is Access.ADMIN, endpoint.path


@pytest.mark.parametrize("caller", ["anonymous", "bob", "maria", "admin"])
async def test_authorization_matrix(server: TestServer, world: World, caller: str):
    headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {world.tokens[caller]}"}
    wrong: list[str] = []
    async with aiohttp.ClientSession() as session:
        for endpoint in sorted(api.endpoints, key=matrix_order):
            path = concrete_path(endpoint, world.ids)
            async with session.request(
                endpoint.method, server.make_url(path), json=sample_body(endpoint), headers=headers
            ) as response:
                status = response.status
                body = (await response.read()).decode(errors="replace")
            expected = expected_denial(endpoint, caller)
            if expected is not None and status != expected:
                wrong.append(f"{endpoint.method} {path}: {status}, expected {expected}: {body}")
            if expected is None and status in DENIED and endpoint.access is not Access.PUBLIC:
                wrong.append(f"{endpoint.method} {path}: {status}, expected access: {body}")
            if status >= 500:
                wrong.append(f"{endpoint.method} {path}: server error {status}: {body}")
    assert not wrong, "\n".join(wrong)


def every_route(server: TestServer) -> list[tuple[str, str]]:
    """Every method and path the web app serves, API, pages and channel webhooks alike."""
    routes = []
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or PARAM.sub("1", info.get("formatter", ""))
        if path and route.method not in ("HEAD", "*"):
            routes.append((route.method, path))
    return sorted(set(routes))


async def test_every_endpoint_refuses_a_body_over_the_limit_with_413(hub: Hub, server):
    """A file upload's limit is its own (``http.max_upload_bytes`` and the form around it)."""
    http = hub.settings.http
    oversized = b"x" * (http.max_body_bytes + 1)
    too_large_a_file = b"x" * (http.max_upload_bytes + FORM_ROOM + 1)
    routes = every_route(server)
    assert len(routes) > len(api.endpoints)
    async with aiohttp.ClientSession() as session:
        for method, path in routes:
            async with session.request(
                method,
                server.make_url(path),
                data=io.BytesIO(too_large_a_file if path.endswith("/uploads") else oversized),
                headers={"Content-Type": "x/y"},
            ) as response:
                assert response.status == 413, (method, path, response.status)
                body = await response.json()
                assert "too large" in body["error"]


def schemathesis_command() -> list[str]:
    executable = shutil.which("st", path=os.path.dirname(sys.executable))
    if executable is None:
        pytest.fail("schemathesis is a test dependency: pip install -e '.[test]'")
    return [executable]


async def test_schemathesis_finds_no_server_error(server: TestServer, world: World, tmp_path):
    """Generated requests (valid and invalid) against the OpenAPI document, as an admin."""
    command = [
        *schemathesis_command(),
        "run",
        str(server.make_url("/api/openapi.json")),
        "--url",
        str(server.make_url("/")).rstrip("/"),
        "--checks",
        "not_a_server_error",
        # Stateful runs follow the links response schemas imply: slower per case, and the
        # budget goes to generated requests (tests/test_openapi.py checks the answers).
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "15",
        "--seed",
        "20261125",
        "--workers",
        "1",
        "--exclude-path",
        "/api/logout",
        # WebSockets: no HTTP request but the upgrade means anything to them.
        "--exclude-path-regex",
        "/ws$|^/api/events$",
        "--header",
        f"Authorization: Bearer {world.tokens['admin']}",
        "--no-color",
        "--report-dir",
        str(tmp_path),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=FUZZ_TIMEOUT_SECONDS)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-6000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated, report
    assert int(generated.group(1)) > 500, "the budget let schemathesis try a fair number of cases"
    assert generated.group(1) == generated.group(2), report
