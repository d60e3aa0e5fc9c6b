"""Which connector class serves which channel kind."""

from __future__ import annotations

from connectors.api.connector import ApiConnector
from connectors.api.settings import ApiChannel
from connectors.base import Connector, HubPort
from connectors.email.connector import EmailConnector
from connectors.email.settings import EmailChannel
from connectors.settings import ChannelBase
from connectors.slack.connector import SlackConnector
from connectors.slack.settings import SlackChannel
from connectors.telegram.connector import TelegramConnector
from connectors.telegram.settings import TelegramChannel
from connectors.twilio.connector import TwilioConnector
from connectors.twilio.settings import TwilioChannel
from connectors.webchat.connector import WebchatConnector
from connectors.webchat.settings import WebchatChannel
from connectors.whatsapp.connector import WhatsappConnector
from connectors.whatsapp.settings import WhatsappChannel


def build_connector(settings: ChannelBase, hub: HubPort) -> Connector:
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
        case TwilioChannel():
            return TwilioConnector(settings, hub)
        case WhatsappChannel():
            return WhatsappConnector(settings, hub)
    raise ValueError(f"no connector for {type(settings).__name__} {settings.name!r}")
