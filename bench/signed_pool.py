"""Signed webhook requests made ahead for wrk, whose Lua cannot compute an HMAC: the API
channel's, Meta's WhatsApp webhook and Twilio's SMS webhook, each a new message, written
one a line to a pool file that :data:`POOL_SCRIPT` walks (``bench.mobile``)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from bench.load import CUSTOMERS, TOKEN
from tests.support import twilio_api, whatsapp_api

PUBLIC_URL = "https://hub.bench.example"
"""Where Twilio would call the hub: what its signature covers, not where wrk sends."""
CHANNELS = (
    f"  - {{kind: whatsapp, name: whatsapp, phone_number_id: '{whatsapp_api.PHONE_NUMBER_ID}',"
    " access_token_env: BENCH_WA_ACCESS_TOKEN, app_secret_env: BENCH_WA_APP_SECRET,"
    " verify_token_env: BENCH_WA_VERIFY_TOKEN}\n"
    f"  - {{kind: twilio, name: twilio, account_sid: {twilio_api.ACCOUNT_SID},"
    f" auth_token_env: BENCH_TWILIO_AUTH_TOKEN, from_number: '{twilio_api.HUB_NUMBER}'}}\n"
)
SECRETS = {
    "BENCH_WA_ACCESS_TOKEN": whatsapp_api.ACCESS_TOKEN,
    "BENCH_WA_APP_SECRET": whatsapp_api.APP_SECRET,
    "BENCH_WA_VERIFY_TOKEN": whatsapp_api.VERIFY_TOKEN,
    "BENCH_TWILIO_AUTH_TOKEN": twilio_api.AUTH_TOKEN,
}
POOL_SCRIPT = textwrap.dedent(
    """
    -- args: prefix (unused), the pool file, the header each line's first field goes in,
    -- the number of wrk threads. A line: header value, a tab, the body.
    local next_id = 0
    local threads = {}
    local pool = {}
    local headers = {}
    built = 0
    beyond = 0
    pooled = 0
    function setup(thread)
      thread:set("tid", next_id)
      next_id = next_id + 1
      table.insert(threads, thread)
    end
    function init(args)
      header = args[3]
      local stride = tonumber(args[4])
      local line_number = 0
      for line in io.lines(args[2]) do
        if line_number % stride == tid then
          local tab = line:find("\\t", 1, true)
          pool[#pool + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
        end
        line_number = line_number + 1
      end
      pooled = #pool
      for name, value in pairs(wrk.headers) do
        headers[name] = value
      end
    end
    request = function()
      built = built + 1
      if built > pooled then
        beyond = beyond + 1
      end
      local entry = pool[(built - 1) % pooled + 1]
      headers[header] = entry[1]
      return wrk.format("POST", nil, headers, entry[2])
    end
    function done(summary, latency, requests)
      local all_built, all_beyond, all_pooled = 0, 0, 0
      for _, thread in ipairs(threads) do
        all_built = all_built + thread:get("built")
        all_beyond = all_beyond + thread:get("beyond")
        all_pooled = all_pooled + thread:get("pooled")
      end
      io.write(string.format("pool: built %d of %d, beyond %d\\n", all_built, all_pooled,
        all_beyond))
    end
    """
)


@dataclass(frozen=True)
class Kind:
    """One way a message arrives: its channel, path, signing header and request builder."""

    name: str
    channel: str
    path: str
    header: str
    content_type: str
    message_id: str
    """The format of a message's id, of ``batch`` (0: the warm-up, then the round) and ``n``."""
    build: Callable[[str, int], tuple[str, str]]
    """(a new message's id, customer number) -> (the header's value, the body)."""


def api_request(message_id: str, customer: int) -> tuple[str, str]:
    body = {"id": message_id, "from": {"address": f"+1555100{customer:04d}"}}
    return f"Bearer {TOKEN}", json.dumps({**body, "text": f"bench {message_id}"})


def whatsapp_request(message_id: str, customer: int) -> tuple[str, str]:
    text, now = f"bench {message_id}", datetime.now(UTC)
    payload = whatsapp_api.incoming_text(
        f"1555200{customer:04d}", text, now, name=f"Customer {customer}", wamid=message_id
    )
    body = whatsapp_api.encoded(payload)
    return whatsapp_api.sign(body), body.decode()


def twilio_request(message_id: str, customer: int) -> tuple[str, str]:
    form = twilio_api.incoming_sms(f"+1555300{customer:04d}", f"bench {message_id}", sid=message_id)
    return twilio_api.sign(PUBLIC_URL + TWILIO.path, form), urlencode(form)


JSON = "application/json"
API = Kind(
    "api", "sms", "/channels/sms/messages", "Authorization", JSON, "api-{batch}-{n}", api_request
)
WHATSAPP = Kind(
    "whatsapp",
    "whatsapp",
    "/whatsapp/whatsapp/webhook",
    "X-Hub-Signature-256",
    JSON,
    "wamid.bench{batch}x{n:08d}",
    whatsapp_request,
)
TWILIO = Kind(
    "twilio",
    "twilio",
    "/twilio/twilio/messages",
    "X-Twilio-Signature",
    "application/x-www-form-urlencoded",
    "SM{batch:04x}{n:028x}",
    twilio_request,
)
KINDS = (API, WHATSAPP, TWILIO)


def pool_path(folder: Path, kind: Kind, batch: int) -> Path:
    return folder / f"{kind.name}-{batch}.pool"


def write_pool(folder: Path, kind: Kind, batch: int, size: int) -> None:
    """``size`` signed requests of ``kind``, each a new message id, one a line: the signing
    header's value, a tab, the body."""
    with pool_path(folder, kind, batch).open("w") as out:
        for n in range(size):
            value, body = kind.build(kind.message_id.format(batch=batch, n=n), n % CUSTOMERS)
            out.write(f"{value}\t{body}\n")


def read_pool(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split("\t", 1)) for line in path.read_text().splitlines()]
