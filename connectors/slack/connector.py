"""The Slack channel: Events API or Socket Mode in through slack-bolt, replies in the thread.

Inbound (``mode: events``): ``POST /slack/<name>/events`` is handed, raw, to
a slack-bolt ``AsyncApp``: bolt checks the signature (401 for a wrong or
stale one) and answers ``url_verification``; our listener stores customer
messages and bolt acknowledges only after that (``process_before_response``),
so what Slack hears 200 for is durable. Retries of one ``event_id`` do the
work once. The same URL is the app's Interactivity Request URL: a click on one
of our link buttons (``blocks.py``) is acknowledged, nothing more.

Inbound (``mode: socket``): bolt's aiohttp ``AsyncSocketModeHandler`` opens
``apps.connections.open`` with the xapp- token and keeps the WebSocket; each
``events_api`` envelope (and ``interactive`` one, a button click) goes through
the same ``AsyncApp`` and listeners, and
the ``{"envelope_id"}`` ack is sent only after the listener returned (a
failed listener means no ack, so Slack redelivers).

Outbound: the reply goes to the thread of the customer's latest message in
the conversation (the outbox hands it over in ``OutboundMessage.thread``), or
as a DM; its choices as link buttons under it, a text Slack would truncate in
parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from connectors.base import (
    Address,
    AuthFailed,
    Connector,
    ConnectorError,
    Delivery,
    HubPort,
    OutboundMessage,
    PermanentError,
)
from connectors.route_docs import Raw, RouteDoc
from connectors.slack.blocks import CHOICE_ACTIONS, link_buttons, text_parts, with_buttons
from connectors.slack.dedupe import EventDedupe
from connectors.slack.errors import NETWORK_ERRORS, api_error, network_error
from connectors.slack.events import (
    IDENTITY_KIND,
    BotIdentity,
    SlackUser,
    customer_event,
    inbound,
    is_direct,
    split_external_id,
    user_from_info,
)
from connectors.slack.logs import dropped
from connectors.slack.settings import SlackChannel

log = logging.getLogger(__name__)

API_TIMEOUT_SECONDS = 15
USER_LOOKUP_SECONDS = 1.0
"""users.info before the ack: Slack wants an answer within 3 s, so give up early."""
REMEMBERED = 10_000


class SlackConnector(Connector):
    kind = "slack"

    def __init__(self, settings: SlackChannel, hub: HubPort) -> None:
        super().__init__(settings.name, hub)
        self.settings = settings
        self._token = settings.bot_token_env.reveal()
        self.client = AsyncWebClient(
            token=self._token,
            base_url=settings.base_url,
            timeout=API_TIMEOUT_SECONDS,
            retry_handlers=[],  # the outbox retries, with its own policy
        )
        self._channels = frozenset(settings.channels)
        self._bot: BotIdentity | None = None
        self._users: OrderedDict[str, SlackUser] = OrderedDict()
        self._dedupe = EventDedupe(REMEMBERED)
        self.app = self._bolt_app()
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_opened = False
        """Socket Mode connected at start; if not, :meth:`listen` connects."""

    @property
    def identity_kind(self) -> str:
        return IDENTITY_KIND

    def routes(self) -> Iterable[web.RouteDef]:
        if self.settings.mode != "events":
            return []
        return [web.post(f"/slack/{self.name}/events", self.receive)]

    def route_docs(self) -> Iterable[RouteDoc]:
        if self.settings.mode != "events":
            return
        signature = {
            "type": "apiKey",
            "in": "header",
            "name": "X-Slack-Signature",
            "description": "Slack's v0 HMAC-SHA256 signature with the app's signing secret, "
            "over X-Slack-Request-Timestamp and the body",
        }
        yield RouteDoc(
            "POST",
            f"/slack/{self.name}/events",
            f"channel_{self.name}_events",
            f"The Events API and Interactivity request URL of Slack app channel {self.name}",
            "channels",
            description="Slack's event callbacks and URL verification (JSON), and the "
            "block_actions of the hub's link buttons (a form with a payload field), answered "
            "as Slack expects; a request not signed with the app's signing secret is answered "
            "401.",
            response=Raw("application/json", "Slack's acknowledgement (or the challenge)"),
            errors=(404,),
            security={f"channel_{self.name}_signature": signature},
        )

    async def start(self) -> None:
        if self.settings.mode == "socket":
            await self._connect_socket()

    async def listen(self) -> None:
        """Events API: events arrive in ``routes()``. Socket Mode, when Slack was unreachable
        at start: connect here (the SDK keeps trying, then receives on its own tasks)."""
        if self._socket is not None and not self._socket_opened:
            await self._socket.connect_async()

    async def stop(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close_async()

    async def _connect_socket(self) -> None:
        """Socket Mode: a refused app token stops the start; an unreachable Slack does not.

        The first WebSocket URL is asked for here, so that ``invalid_auth`` is an
        error at start instead of the SDK's endless reconnect loop; when Slack is
        unreachable the SDK keeps trying in the background.
        """
        if self.settings.app_token_env is None:  # the config refuses this already
            raise ConnectorError(f"channel {self.name}: mode socket needs app_token_env")
        app_token = self.settings.app_token_env.reveal()
        socket = AsyncSocketModeHandler(self.app, app_token=app_token, logger=log)
        self._socket, self._socket_opened = socket, False
        try:
            opened = await self._call(
                "apps.connections.open",
                socket.client.web_client.apps_connections_open,
                app_token=app_token,
            )
        except PermanentError:
            await self.stop()
            raise
        except ConnectorError as error:
            log.warning("channel %s: %s; connecting in the background", self.name, error)
            return
        socket.client.wss_uri = str(opened["url"])
        await socket.connect_async()
        self._socket_opened = True

    # inbound

    def _bolt_app(self) -> AsyncApp:
        with dropped(log, warning_client_prioritized_and_token_skipped()):
            app = AsyncApp(
                name=f"hub-slack-{self.name}",
                logger=log,
                client=AsyncWebClient(base_url=self.settings.base_url, retry_handlers=[]),
                signing_secret=self.settings.signing_secret_env.reveal(),
                authorize=self._authorize_function(),
                process_before_response=True,
            )

        # bolt passes arguments by parameter name, so it gets plain functions, not methods
        async def on_message(body: dict[str, Any]) -> None:
            await self._on_message(body)

        async def on_error(error: Exception) -> None:
            self._log_failed_event(error)

        async def on_choice(ack: AsyncAck) -> None:
            await ack()

        app.event("message")(on_message)
        app.action(CHOICE_ACTIONS)(on_choice)
        app.error(on_error)
        return app

    def _log_failed_event(self, error: Exception) -> None:
        """One line when Slack itself failed (bolt logs a traceback per event); bolt then
        answers 500 or sends no ack, so Slack delivers the event again. A refused bot
        token is one ERROR, and the admin console shows it."""
        if isinstance(error, AuthFailed):
            if self.halted is None:
                log.error(
                    "channel %s: %s; no event is taken while the token is refused",
                    self.name,
                    error.reason,
                )
            self.halt(error)
        elif isinstance(error, ConnectorError):
            log.warning(
                "channel %s: %s; the event is left for Slack to send again", self.name, error.reason
            )
        else:
            log.error("channel %s: an event failed", self.name, exc_info=error)

    async def receive(self, request: web.Request) -> web.Response:
        response = await self.app.async_dispatch(await to_bolt_request(request))
        if response.status == 401:
            # bolt says so at info with the whole body; its logger is held back (hub/logs.py)
            log.info(
                "channel %s: refused a request that is not signed with the app's signing secret",
                self.name,
            )
        return await to_aiohttp_response(response)

    def _authorize_function(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        async def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            # Our ConnectorError (unlike bolt's own auth.test, which acks on a SlackApiError)
            # makes bolt answer 500 when Slack cannot say who we are, so Slack retries.
            bot = await self.bot_identity()
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id,
                team=bot.team,
                bot_user_id=bot.user_id,
                bot_id=bot.bot_id,
                bot_token=self._token,
                user_id=user_id,
            )

        return authorize

    async def _on_message(self, body: dict[str, Any]) -> None:
        event = customer_event(body, await self.bot_identity(), self._channels)
        if event is None:
            return
        await self._dedupe.once(body.get("event_id"), lambda: self._store(body, event))

    async def _store(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        user = await self._user(str(event["user"]))
        message = inbound(self.name, body, event, user)
        await self.hub.ingest(message)

    async def _user(self, user_id: str) -> SlackUser:
        """Name and email of a sender, cached; nothing if Slack is slow or says no."""
        known = self._users.get(user_id)
        if known is not None:
            return known
        try:
            answer = await asyncio.wait_for(
                self.client.users_info(user=user_id, include_locale=True), USER_LOOKUP_SECONDS
            )
        except (SlackApiError, *NETWORK_ERRORS) as error:
            log.warning("channel %s: users.info %s failed: %s", self.name, user_id, error)
            return SlackUser()
        user = user_from_info(answer.get("user") or {})
        self._remember(self._users, user_id, user)
        return user

    async def bot_identity(self) -> BotIdentity:
        """Who the app is (auth.test), asked once."""
        if self._bot is None:
            answer = await self._call("auth.test", self.client.auth_test)
            self._bot = BotIdentity(
                user_id=answer["user_id"],
                bot_id=answer.get("bot_id"),
                user=answer.get("user", ""),
                team_id=answer.get("team_id", ""),
                team=answer.get("team", ""),
            )
        return self._bot

    # outbound

    async def send(self, message: OutboundMessage) -> Delivery:
        """Post the parts not yet delivered, the buttons under the last; a failure carries
        the parts posted so far."""
        channel, thread_ts = await self._destination(message)
        is_notice = message.conversation_id is None
        buttons = link_buttons(message.choices)
        parts = text_parts(plain_text(message.text) if is_notice else message.text, buttons)
        if not parts:
            raise PermanentError("an empty message cannot be sent on Slack")
        delivered = message.delivered
        for index in range(delivered.parts_sent, len(parts)):
            last = index == len(parts) - 1
            try:
                posted = await self._call(
                    "chat.postMessage",
                    self.client.chat_postMessage,
                    channel=channel,
                    text=parts[index],
                    thread_ts=thread_ts,
                    blocks=with_buttons(parts[index], buttons) if last and buttons else None,
                )
            except ConnectorError as error:
                error.partial = delivered
                raise
            ts = str(posted["ts"]) if posted.get("ts") else None
            delivered = Delivery(delivered.external_id or ts, index + 1)
        return delivered

    async def _destination(self, message: OutboundMessage) -> tuple[str, str | None]:
        """Where the reply goes: the thread of the customer's latest message, else a DM."""
        thread = message.thread
        latest = next(
            (found for eid in reversed(thread.external_ids) if (found := split_external_id(eid))),
            None,
        )
        if latest is None:
            return await self._open_dm(message.to), None
        channel, ts = latest
        if is_direct(channel):
            return channel, None
        return channel, thread_root_of(thread.latest_inbound_meta, channel, ts)

    async def _open_dm(self, to: Address) -> str:
        _team, _, user_id = to.address.rpartition(":")
        if not user_id:
            raise PermanentError(f"not a Slack user address: {to.address!r}")
        opened = await self._call(
            "conversations.open", self.client.conversations_open, users=user_id
        )
        return str(opened["channel"]["id"])

    async def test_connection(self) -> str:
        self._bot = None
        bot = await self.bot_identity()
        return f"bot {bot.user} in team {bot.team}"

    async def _call(self, method: str, call: Any, **arguments: Any) -> Any:
        try:
            return await call(**arguments)
        except SlackApiError as error:
            raise api_error(method, error) from error
        except NETWORK_ERRORS as error:
            raise network_error(method, error) from error

    @staticmethod
    def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > REMEMBERED:
            cache.popitem(last=False)


def thread_root_of(latest_inbound_meta: Mapping[str, Any], channel: str, ts: str) -> str:
    """The ts a reply to message ``ts`` goes under: its thread's, kept when it came in."""
    same = (
        latest_inbound_meta.get("slack_channel") == channel and latest_inbound_meta.get("ts") == ts
    )
    return str(latest_inbound_meta.get("thread_ts") or ts) if same else ts


def plain_text(text: str) -> str:
    """``text`` shown as typed: a notice quotes customers' names and words, which must not
    become Slack links, mentions or @channel (Slack reads ``<...>`` as markup)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
