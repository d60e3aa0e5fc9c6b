"""A customer's data on request: export it as a zip, or erase it (admins only, audited)."""

from __future__ import annotations

import asyncio
import tempfile
from functools import partial
from typing import IO

from aiohttp import web
from pydantic import Field

from connectors.route_docs import Raw
from hub.api.answers import Answer
from hub.api.framework import Access, Api, Call
from hub.api.models import Input
from hub.assignment import record_audit
from hub.db.database import Tx
from hub.privacy_erase import erase_customer
from hub.privacy_export import write_export

privacy_api = Api()
CUSTOMER = "/api/admin/customers/{customer_id:\\d+}"
CHUNK = 256 * 1024


class EraseIn(Input):
    confirm: str = Field(
        "", max_length=200, description="the customer's name or id, typed to confirm"
    )


class ErasedCounts(Answer):
    identities: int
    claims: int
    conversations: int
    messages: int
    attachments: int


class CustomerErased(Answer):
    customer_id: int
    deleted: ErasedCounts


@privacy_api.route(
    "GET",
    CUSTOMER + "/export",
    summary="Everything stored about a customer, as a zip of JSON and files (audited)",
    access=Access.ADMIN,
    tag="admin",
    response=Raw("application/zip", "README.txt, customer.json, conversations.json, attachments/"),
)
async def export_customer(call: Call) -> web.StreamResponse:
    customer_id = call.path_int("customer_id")
    with tempfile.TemporaryFile(prefix="hub-export-") as archive:
        counts = await call.hub.db.read(
            partial(write_export, customer_id, call.hub.clock.now(), archive)
        )

        def audit(tx: Tx) -> None:
            record_audit(
                tx, call.agent.agent_id, "customer.exported", "customer", customer_id, **counts
            )

        await call.hub.db.write(audit)
        return await send_file(call.request, archive, f"customer-{customer_id}.zip")


async def send_file(request: web.Request, archive: IO[bytes], name: str) -> web.StreamResponse:
    """Stream the finished zip from disk, a chunk at a time."""
    size = archive.seek(0, 2)
    archive.seek(0)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Content-Length": str(size),
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    while chunk := await asyncio.to_thread(archive.read, CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


@privacy_api.route(
    "DELETE",
    CUSTOMER,
    summary="Erase a customer and everything about them; the audit keeps who, when and counts",
    access=Access.ADMIN,
    tag="admin",
    body=EraseIn,
    response=CustomerErased,
)
async def delete_customer(call: Call) -> dict:
    body: EraseIn = call.body
    return await call.hub.db.write(
        partial(erase_customer, call.agent.agent_id, call.path_int("customer_id"), body.confirm)
    )
