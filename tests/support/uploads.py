"""An agent's file upload for a reply, as the inbox sends it (multipart, the CSRF header)."""

from __future__ import annotations

import io
from typing import Any

import aiohttp

from tests.support.hubs import Browser


async def upload(
    browser: Browser,
    conversation_id: int,
    name: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    expect: int = 201,
) -> Any:
    """POST the file to the conversation's uploads; the API's answer."""
    form = aiohttp.FormData(quote_fields=False)  # names as browsers send them
    form.add_field("file", io.BytesIO(data), filename=name, content_type=content_type)
    url = browser.url(f"/api/conversations/{conversation_id}/uploads")
    async with browser.session.post(url, data=form, headers=browser.headers()) as response:
        body = await response.json()
        assert response.status == expect, (response.status, body)
        return body
