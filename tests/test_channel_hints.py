"""What channels tell about a sender's zone and language reaches the InboundMessage."""

from __future__ import annotations

from telegram import Update

from connectors.slack.events import SlackUser, user_from_info
from connectors.telegram.updates import inbound_of
from connectors.webchat.protocol import Hello, Say, inbound
from tests.support.telegram_api import private_message


def test_slack_users_info_gives_zone_and_locale():
    info = {"name": "lena", "tz": "Europe/Berlin", "locale": "de-DE", "profile": {}}
    assert user_from_info(info) == SlackUser("lena", None, "Europe/Berlin", "de-DE")
    assert user_from_info({"tz": None, "locale": 3}) == SlackUser()


def test_the_widget_hello_zone_and_language_go_with_every_message():
    hello = Hello(type="hello", zone="America/New_York", locale="en-US")
    say = Say(type="message", client_id="abcdefgh", text="hi")
    message = inbound("webchat", "visitor-1", say, hello, ())
    assert (message.zone, message.locale) == ("America/New_York", "en-US")


def test_telegram_language_code_is_the_locale_hint():
    update = private_message(1, 10)
    update["message"]["from"]["language_code"] = "de"
    message = inbound_of(Update.de_json(update, None), "telegram")
    assert message is not None
    assert (message.zone, message.locale) == (None, "de")
