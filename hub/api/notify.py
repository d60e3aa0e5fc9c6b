"""An agent's own notification settings, and linking a Telegram chat to receive them."""

from __future__ import annotations

from functools import partial
from typing import Any

from hub.api.answers import MyNotifications, TelegramCode
from hub.api.framework import Access, Api, Call
from hub.link_codes import issue_code
from hub.notify_settings import NotifySettings, check_channel, choose_notify, read_notify

notify_api = Api()
MINE = "/api/me/notifications"


def settings_json(settings: NotifySettings, channel_kinds: dict[str, str]) -> dict[str, Any]:
    """The settings, with the hub channels an agent may choose from, per kind."""
    offered: dict[str, list[str]] = {"email": [], "slack": [], "telegram": []}
    for name, kind in channel_kinds.items():
        if kind in offered:
            offered[kind].append(name)
    return {**settings.model_dump(), "channels": offered}


def channel_kinds(call: Call) -> dict[str, str]:
    return {channel.name: channel.kind for channel in call.hub.settings.channels}


@notify_api.route(
    "GET",
    MINE,
    summary="How the hub notifies me while my inbox is closed (and the channels to choose from)",
    access=Access.AGENT,
    tag="session",
    response=MyNotifications,
)
async def my_notifications(call: Call) -> dict[str, Any]:
    settings = await call.hub.db.read(partial(read_notify, agent_id=call.agent.agent_id))
    return settings_json(settings, channel_kinds(call))


@notify_api.route(
    "PUT",
    MINE,
    summary="Choose how the hub notifies me: channel, address, event kinds, text shown",
    access=Access.AGENT,
    tag="session",
    body=NotifySettings,
    response=MyNotifications,
)
async def set_my_notifications(call: Call) -> dict[str, Any]:
    chosen: NotifySettings = call.body
    kinds = channel_kinds(call)
    check_channel(chosen, kinds)
    saved = await call.hub.db.write(
        partial(choose_notify, agent_id=call.agent.agent_id, chosen=chosen)
    )
    return settings_json(saved, kinds)


@notify_api.route(
    "POST",
    f"{MINE}/telegram-code",
    summary="A one-time code (10 minutes) to send the hub's Telegram bot: links my chat",
    access=Access.AGENT,
    tag="session",
    status=201,
    response=TelegramCode,
)
async def telegram_code(call: Call) -> dict[str, Any]:
    return await issue_code(call.hub, call.agent.agent_id)
