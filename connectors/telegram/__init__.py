"""Telegram: a bot's private chats, by webhook or long polling (python-telegram-bot)."""

import os

# python-telegram-bot 22 warns on every RetryAfter (even inside its own constructor)
# unless durations are opted in as timedelta, which it will use anyway from v23.
os.environ.setdefault("PTB_TIMEDELTA", "true")
