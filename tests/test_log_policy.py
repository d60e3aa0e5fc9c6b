"""No secret and no message text in the log at info, whoever writes the line.

A hub with every channel kind runs a real exchange on each (a customer writes,
an agent answers), plus what an attacker or a revoked credential brings: a
forged Slack request, a webhook with a wrong secret, a wrong API token and a
bot token Telegram refuses. The root log is captured as ``hub run`` sets it up.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from config import Settings
from hub.app import Hub
from hub.db.schema import messages
from hub.logs import LIBRARY_LEVELS, configure_logging
from tests.support.hubs import PASSWORD, Browser, add_agent, started_hub
from tests.support.peers import RecordingPeer
from tests.support.processes import hub_process, write_config
from tests.support.slack_api import SlackApi, signed_headers
from tests.support.smtp import SmtpPeer
from tests.support.telegram_api import FakeBotApi, private_message
from tests.support.waiting import until
from tests.test_slack import LENA, message_event

TG_TOKEN = "5550001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TG_HOOK_TOKEN = "5550002:AAFxq0PRd8d2MgGm3yYbH1ZzQ6cXx3kR4n"
TG_REVOKED_TOKEN = "5550003:AAGrevokedrevokedrevokedrevoked00"
SECRETS = {
    "TG_TOKEN": TG_TOKEN,
    "TG_HOOK_TOKEN": TG_HOOK_TOKEN,
    "TG_REVOKED_TOKEN": TG_REVOKED_TOKEN,
    "TG_HOOK_SECRET": "tg-hook-secret_8812",
    "SLACK_BOT_TOKEN": "xoxb-5550-slack-bot-token",
    "SLACK_SIGNING_SECRET": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "API_TOKEN": "crm-inbound-token-7731",
    "API_CALLBACK_SECRET": "crm-callback-secret-4410",
    "SMTP_PASSWORD": "relay-password-9063",
}
WRONG = {"api token": "guessed-api-token-0452", "webhook secret": "guessed-hook-secret-3307"}
CUSTOMER_EMAIL = "ines.moreau@example.net"
SAID = {
    "webchat in": "Bonjour, ma commande 31-415 est en retard",
    "webchat reply": "Votre colis part demain matin",
    "api in": "SMS: please call me back on the landline",
    "api reply": "We will call you at four",
    "mail subject": "Invoice for order 27182",
    "mail in": "The invoice shows the wrong postal address",
    "mail reply": "A corrected invoice is attached to this mail",
    "telegram in": "Hallo, wo bleibt mein Paket 16180?",
    "telegram reply": "Ihr Paket ist in Leipzig angekommen",
    "telegram webhook in": "Kann ich die Lieferadresse noch aendern?",
    "forged telegram": "forged update: send me every invoice",
    "slack in": "Our team cannot log in since Tuesday",
    "slack reply": "A fix for the sign-in is rolling out",
    "forged slack": "forged event: transfer the account to me",
}


def hub_settings(
    database_url: str, bot_api: FakeBotApi, slack_api: SlackApi, relay: SmtpPeer, crm: str
) -> Settings:
    telegram = {"kind": "telegram", "base_url": bot_api.base_url, "poll_seconds": 1}
    hooked = {**telegram, "mode": "webhook", "webhook_secret_env": "TG_HOOK_SECRET"}
    channels: list[dict[str, Any]] = [
        {"kind": "webchat", "name": "webchat"},
        {
            "kind": "api",
            "name": "crm",
            "token_env": "API_TOKEN",
            "callback_url": crm,
            "callback_secret_env": "API_CALLBACK_SECRET",
        },
        {
            "kind": "email",
            "name": "mail",
            "address": "support@shop.example",
            "smtp_in": {"host": "127.0.0.1", "port": 0},
            # No DNS here: the sender checks have tests of their own.
            "authentication": {"check": False},
            "smtp_out": {
                "host": "127.0.0.1",
                "port": relay.port,
                "security": "none",
                "username": "hub",
                "password_env": "SMTP_PASSWORD",
            },
        },
        {**telegram, "name": "tg", "token_env": "TG_TOKEN", "mode": "polling"},
        {**hooked, "name": "tg-hook", "token_env": "TG_HOOK_TOKEN"},
        {**hooked, "name": "tg-revoked", "token_env": "TG_REVOKED_TOKEN"},
        {
            "kind": "slack",
            "name": "slack",
            "bot_token_env": "SLACK_BOT_TOKEN",
            "signing_secret_env": "SLACK_SIGNING_SECRET",
            "base_url": slack_api.base_url,
            "channels": ["C0SUPPORT"],
        },
    ]
    return Settings.model_validate(
        {"database": {"url": database_url}, "channels": channels}, context={"environ": SECRETS}
    )


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TG_TOKEN, also_accepted=(TG_HOOK_TOKEN,)) as api:
        yield api


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        api.add_user(LENA, "Lena Fischer")
        yield api


@pytest.fixture
async def relay() -> AsyncIterator[SmtpPeer]:
    async with SmtpPeer(users={"hub": SECRETS["SMTP_PASSWORD"]}) as peer:
        yield peer


@pytest.fixture
async def crm() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
def settings(database_url, bot_api, slack_api, relay, crm) -> Settings:
    return hub_settings(database_url, bot_api, slack_api, relay, crm.url("/replies"))


@contextmanager
def hub_logging(settings: Settings) -> Iterator[io.StringIO]:
    """The root log as ``hub run`` sets it up, written to a string; put back afterwards."""
    root = logging.getLogger()
    level = root.level
    libraries = {name: logging.getLogger(name).level for name in LIBRARY_LEVELS}
    stream = io.StringIO()
    configure_logging(settings, stream)
    handler = root.handlers[-1]
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, library_level in libraries.items():
            logging.getLogger(name).setLevel(library_level)


@pytest.fixture
def hub_log(settings: Settings) -> Iterator[io.StringIO]:
    with hub_logging(settings) as stream:
        yield stream


@pytest.fixture
async def hub(settings, clock, hub_log) -> AsyncIterator[Hub]:
    async with started_hub(settings, clock) as hub:
        await add_agent(hub, "maria@example.com")
        yield hub


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def latest_conversation(hub: Hub, channel: str) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(
            select(messages.c.conversation_id)
            .where(messages.c.channel == channel, messages.c.direction == "in")
            .order_by(messages.c.id.desc())
            .limit(1)
        ).scalar_one()
    )


async def answer(hub: Hub, maria: Browser, channel: str, text: str) -> None:
    """The agent answers the channel's latest conversation from the inbox; the outbox sends."""
    conversation_id = await latest_conversation(hub, channel)
    await maria.post(f"/api/conversations/{conversation_id}/replies", {"text": text}, expect=202)
    assert await hub.outbox.run_due() == 1


async def webchat_exchange(
    hub: Hub, server: TestServer, session: aiohttp.ClientSession, maria: Browser
) -> str:
    """A visitor writes, the agent's answer arrives live; the visitor's token."""
    socket = await session.ws_connect(server.make_url("/webchat/webchat/ws"))
    await socket.send_json({"type": "hello", "token": None})
    token = (await socket.receive_json(timeout=5))["token"]
    await socket.send_json(
        {"type": "message", "client_id": "client-0001", "text": SAID["webchat in"]}
    )
    assert (await socket.receive_json(timeout=5))["type"] == "ack"
    await answer(hub, maria, "webchat", SAID["webchat reply"])
    assert (await socket.receive_json(timeout=5))["message"]["text"] == SAID["webchat reply"]
    await socket.close()
    return token


async def api_exchange(
    hub: Hub, server: TestServer, session: aiohttp.ClientSession, maria: Browser, crm: RecordingPeer
) -> None:
    """A message posted with the token and one with a guessed token; the signed callback."""
    url = server.make_url("/channels/crm/messages")
    posted = {"id": "crm-1", "from": {"address": "+4917000"}, "text": SAID["api in"]}
    for token, status in ((SECRETS["API_TOKEN"], 202), (WRONG["api token"], 401)):
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(url, json=posted, headers=headers) as response:
            assert response.status == status
    await answer(hub, maria, "crm", SAID["api reply"])
    assert "X-Hub-Signature" in crm.received[-1].headers


async def email_exchange(hub: Hub, maria: Browser, relay: SmtpPeer) -> None:
    """Mail into the hub's SMTP listener; the answer leaves through the relay, logged in."""
    mail = EmailMessage()
    mail["From"] = CUSTOMER_EMAIL
    mail["To"] = "support@shop.example"
    mail["Subject"] = SAID["mail subject"]
    mail.set_content(SAID["mail in"])
    port = hub.connectors["mail"].smtp_port  # type: ignore[attr-defined]
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)
    await answer(hub, maria, "mail", SAID["mail reply"])
    assert relay.logins == [("hub", True)]
    body = relay.received[-1].message.get_body(("plain",))
    assert body is not None
    assert SAID["mail reply"] in body.get_content()


async def telegram_exchange(
    hub: Hub,
    server: TestServer,
    session: aiohttp.ClientSession,
    maria: Browser,
    bot_api: FakeBotApi,
) -> None:
    """Polling in, sendMessage out; a webhook update with the secret and one without."""
    await bot_api.push_update(private_message(7001, 71, SAID["telegram in"]))

    async def polled() -> bool:
        return await hub.load_state("tg:offset") == "7002"

    await until(polled, "the polling channel stored the update")
    await answer(hub, maria, "tg", SAID["telegram reply"])
    assert bot_api.called("sendMessage")[-1]["text"] == SAID["telegram reply"]
    hook = server.make_url("/telegram/tg-hook/webhook")
    for secret, text, status in (
        (SECRETS["TG_HOOK_SECRET"], SAID["telegram webhook in"], 200),
        (WRONG["webhook secret"], SAID["forged telegram"], 403),
    ):
        update = private_message(8001, 81, text, user_id=777002)
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with session.post(hook, json=update, headers=headers) as response:
            assert response.status == status


async def slack_exchange(
    hub: Hub,
    server: TestServer,
    session: aiohttp.ClientSession,
    maria: Browser,
    slack_api: SlackApi,
) -> None:
    """A signed event in, a thread reply out; then a forged event with a made-up signature."""
    url = server.make_url("/slack/slack/events")
    for secret, event, status in (
        (SECRETS["SLACK_SIGNING_SECRET"], message_event(text=SAID["slack in"]), 200),
        ("0" * 32, message_event(event_id="Ev0002", text=SAID["forged slack"]), 401),
    ):
        body = json.dumps(event).encode()
        async with session.post(url, data=body, headers=signed_headers(secret, body)) as response:
            assert response.status == status
    await answer(hub, maria, "slack", SAID["slack reply"])
    assert slack_api.called("chat.postMessage")[-1]["text"] == SAID["slack reply"]


async def test_info_log_shows_no_secret_and_no_message_text(
    hub, server, session, browser_factory, hub_log, bot_api, slack_api, relay, crm
):
    maria = await (await browser_factory()).login("maria@example.com")
    visitor_token = await webchat_exchange(hub, server, session, maria)
    await api_exchange(hub, server, session, maria, crm)
    await email_exchange(hub, maria, relay)
    await telegram_exchange(hub, server, session, maria, bot_api)
    await slack_exchange(hub, server, session, maria, slack_api)

    logged = hub_log.getvalue()
    private = {
        **SECRETS,
        **{
            f"{name} (its secret part)": token.split(":")[1]
            for name, token in SECRETS.items()
            if ":" in token
        },
        **{f"wrong {what}": value for what, value in WRONG.items()},
        **SAID,
        "customer email address": CUSTOMER_EMAIL,
        "agent password": PASSWORD,
        "visitor token": visitor_token,
    }
    leaked = sorted(name for name, value in private.items() if value in logged)
    assert leaked == [], f"in the log at info: {leaked}"
    assert "telegram tg-revoked: setWebhook: Telegram refused the bot token" in logged, "captured"
    assert "channel slack: refused a request" in logged


# hub run, and the policy's settings


async def test_hub_run_holds_back_library_lines_from_its_first_request(
    database_url, tmp_path, bot_api
):
    config = write_config(
        tmp_path / "hub.yaml",
        {
            "database": {"url": database_url},
            "channels": [
                {
                    "kind": "telegram",
                    "name": "tg",
                    "token_env": "TG_TOKEN",
                    "mode": "polling",
                    "base_url": bot_api.base_url,
                    "poll_seconds": 1,
                }
            ],
        },
    )
    environ = {"TG_TOKEN": TG_TOKEN}
    async with hub_process(tmp_path, "--config", str(config), env=environ) as running:
        await until(lambda: len(bot_api.called("getUpdates")) >= 2, "two polls answered")
    output = running.captured()
    assert " INFO " in output, "the log is written at info"
    assert TG_TOKEN.split(":")[1] not in output, output


@pytest.mark.parametrize(("level", "library_level"), [("debug", "WARNING"), ("error", "ERROR")])
def test_libraries_log_warnings_at_most_and_never_below_the_hubs_level(level, library_level):
    settings = Settings.model_validate({"log": {"level": level}})
    with hub_logging(settings):
        assert logging.getLogger().level == logging.getLevelNamesMapping()[level.upper()]
        levels = {logging.getLevelName(logging.getLogger(name).level) for name in LIBRARY_LEVELS}
    assert levels == {library_level}


def test_a_secret_too_short_to_mask_is_named_in_a_warning():
    settings = Settings.model_validate(
        {"channels": [{"kind": "api", "name": "crm", "token_env": "API_TOKEN"}]},
        context={"environ": {"API_TOKEN": "t0ken"}},
    )
    with hub_logging(settings) as stream:
        logging.getLogger("hub.test").info("the t0ken stays readable")
    logged = stream.getvalue()
    assert "API_TOKEN holds fewer than 6 characters: too short to be masked" in logged
    assert "the t0ken stays readable" in logged
