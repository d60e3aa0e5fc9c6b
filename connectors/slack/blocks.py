"""A message's choices as Block Kit link buttons, and the parts a message is posted in: pure.

The buttons sit in an ``actions`` block under a ``section`` block holding the
text; ``text`` stays on the message as what notifications show. Slack still
posts a ``block_actions`` payload when a link button is clicked, and warns
the user unless the app acknowledges it: the connector acknowledges the
action ids made here (``CHOICE_ACTIONS``) and records nothing (the page the
link opens takes the answer, with its signed token).
"""

from __future__ import annotations

import re
from typing import Any

from connectors.text_parts import split_text

MAX_TEXT_CHARS = 40_000
"""Slack truncates a message's ``text`` beyond this; a longer one leaves in parts."""
MAX_SECTION_CHARS = 3_000
"""A section block's text: the part the buttons go under is cut to this."""
MAX_BUTTON_URL_CHARS = 3_000
MAX_BUTTON_LABEL_CHARS = 75
MAX_BUTTONS = 25
"""Elements in one actions block."""

CHOICES_BLOCK = "hub-choices"
CHOICE_ACTION = "hub-choice"
CHOICE_ACTIONS = re.compile(rf"^{CHOICE_ACTION}-[0-9]+$")
"""The action ids of the buttons made here: ``hub-choice-<n>``, n counting from 1."""

Block = dict[str, Any]


def link_buttons(choices: tuple[tuple[str, str], ...]) -> list[Block]:
    """The choices Slack can show as link buttons, each with its position's action id and
    its label as ``value`` (a satisfaction score).

    Only https links within Slack's limits: a button Slack refuses would fail the whole
    message, and the text carries the link anyway (as for Telegram's buttons).
    """
    return [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": url,
            "action_id": f"{CHOICE_ACTION}-{position}",
            "value": label,
        }
        for position, (label, url) in enumerate(choices, start=1)
        if url.startswith("https://")
        and len(url) <= MAX_BUTTON_URL_CHARS
        and 0 < len(label) <= MAX_BUTTON_LABEL_CHARS
    ][:MAX_BUTTONS]


def text_parts(text: str, buttons: list[Block]) -> list[str]:
    """The parts ``text`` is posted in: the last one fits the section block the buttons go
    under (the others too, so that the cut is always made the same way for a retry)."""
    return split_text(text, MAX_SECTION_CHARS if buttons else MAX_TEXT_CHARS)


def with_buttons(text: str, buttons: list[Block]) -> list[Block]:
    """``text`` in a section block (mrkdwn, as a message's text is read) with the buttons
    under it in one actions block."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "actions", "block_id": CHOICES_BLOCK, "elements": buttons},
    ]
