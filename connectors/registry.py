"""Which connector class serves which channel kind."""

from __future__ import annotations

from config.schema import (
    ApiChannel,
    ChannelSettings,
    EmailChannel,
    SlackChannel,
    TelegramChannel,
    WebchatChannel,
)
from connectors.api.connector import ApiConnector
from connectors.base import Connector, HubPort
from connectors.email.connector import EmailConnector
from connectors.slack.connector import SlackConnector
from connectors.telegram.connector import TelegramConnector
from connectors.webchat.connector import WebchatConnector


def build_connector(settings: ChannelSettings, hub: HubPort) -> Connector:
    match settings:
        case WebchatChannel():
            return WebchatConnector(settings, hub)
        case ApiChannel():
            return ApiConnector(settings, hub)
        case EmailChannel():
            return EmailConnector(settings, hub)
        case TelegramChannel():
            return TelegramConnector(settings, hub)
        case SlackChannel():
            return SlackConnector(settings, hub)
    raise ValueError(f"no connector for channel kind {settings.kind!r}")
