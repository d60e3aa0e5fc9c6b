"""config/example.yaml shows every setting of the schema, and the Slack app's setup in full."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from config.fields import field_at, setting_paths
from config.schema import CHANNEL_TYPES, Settings
from connectors.settings import ChannelBase
from connectors.slack.settings import APP_FEATURES, APP_TOKEN_SCOPES, BOT_SCOPES, EVENTS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.yaml"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def shown(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Whether ``path`` is written in ``data``: for a list of sections, in any of them."""
    head, *rest = path
    if head not in data:
        return False
    if not rest:
        return True
    inner = data[head]
    sections = inner if isinstance(inner, list) else [inner]
    return any(isinstance(s, dict) and shown(s, tuple(rest)) for s in sections)


def missing_from(data: dict[str, Any], model: type) -> list[str]:
    return [".".join(path) for path in setting_paths(model) if not shown(data, path)]


def test_every_hub_wide_setting_is_in_the_example():
    assert missing_from(example(), Settings) == []


def test_every_setting_of_every_channel_kind_is_in_the_example():
    """A kind's own settings in a channel of that kind; those all kinds share in any channel."""
    channels = example()["channels"]
    missing = []
    for model in CHANNEL_TYPES:
        kind = model.model_fields["kind"].annotation.__args__[0]
        of_kind = [c for c in channels if c["kind"] == kind]
        assert of_kind, f"no {kind} channel in the example"
        for path in setting_paths(model):
            where = channels if path[0] in ChannelBase.model_fields else of_kind
            if not shown({"channels": where}, ("channels", *path)):
                missing.append(f"{kind}: {'.'.join(path)}")
    assert missing == []


def test_every_choice_of_a_setting_is_named_in_the_example():
    """Literal settings (smtp_out.security: none, starttls, tls...): each value is mentioned."""
    text = EXAMPLE.read_text()
    unnamed = []
    for model in (Settings, *CHANNEL_TYPES):
        for path in setting_paths(model):
            for choice in literal_choices(model, path):
                if not re.search(rf"\b{re.escape(str(choice))}\b", text):
                    unnamed.append(f"{model.__name__}: {'.'.join(path)}: {choice}")
    assert unnamed == []


def test_the_walk_reaches_nested_sections():
    """The schema walk itself: it must see inside optional sections, or the tests above pass
    vacuously."""
    email = next(m for m in CHANNEL_TYPES if m.__name__ == "EmailChannel")
    paths = set(setting_paths(email))
    assert ("smtp_out", "security") in paths
    assert ("imap", "ssl") in paths
    assert ("authentication", "timeout_seconds") in paths
    assert ("sla", "first_response_minutes") in set(setting_paths(Settings))


def test_the_slack_scopes_and_events_the_connector_needs_are_listed():
    for document in (EXAMPLE, CONFIGURATION_DOC):
        text = document.read_text()
        needed = [*EVENTS, *BOT_SCOPES, *APP_TOKEN_SCOPES, *APP_FEATURES]
        assert [name for name in needed if not re.search(mention(name), text)] == []


def mention(name: str) -> str:
    """``name`` standing alone: users:read inside users:read.email does not count."""
    return rf"(?<![\w:.]){re.escape(name)}(?![\w:]|\.\w)"


def literal_choices(model: type, path: tuple[str, ...]) -> tuple[object, ...]:
    annotation = field_at(model, path).annotation
    if get_origin(annotation) is Literal and path[-1] != "kind":
        return get_args(annotation)
    return ()


SETTING_LINE = re.compile(r"^(\s*)(- )?([a-z_]+):")


def test_every_setting_in_the_example_has_a_comment():
    """Inline, above it or the settings grouped with it, or above the section it is in."""
    lines = EXAMPLE.read_text().splitlines()
    names = {path[-1] for model in (Settings, *CHANNEL_TYPES) for path in setting_paths(model)}
    bare = [
        f"line {i + 1}: {line.strip()}"
        for i, line in enumerate(lines)
        if (match := SETTING_LINE.match(line))
        and match.group(3) in names
        and not commented(lines, i, parents=1)
    ]
    assert bare == []


def commented(lines: list[str], at: int, parents: int) -> bool:
    line = lines[at]
    if "#" in line.split(":", 1)[1]:
        return True
    depth = indent(line)
    for before in range(at - 1, -1, -1):
        above = lines[before]
        if above.lstrip().startswith("#"):
            return True
        if not above.strip():
            return False
        if SETTING_LINE.match(above) and indent(above) < depth:
            return parents > 0 and commented(lines, before, parents - 1)
    return False


def indent(line: str) -> int:
    match = SETTING_LINE.match(line)
    if match is None:
        return len(line) - len(line.lstrip())
    return len(match.group(1)) + len(match.group(2) or "")
