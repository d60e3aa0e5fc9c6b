"""Settings from the environment, for containers: ``HUB_<SECTION>__<FIELD>`` over the file's.

Precedence: an environment variable, else the settings file, else the default.
Names are the settings' paths in capitals, joined by ``__`` (``HUB_HTTP__PORT``,
``HUB_AUTH__SESSION_HOURS``); lists and mappings are written as JSON
(``HUB_HTTP__TRUSTED_PROXIES='["10.0.0.0/8"]'``). Channels, a list in the file,
are addressed by name: ``HUB_CHANNELS__<NAME>__<FIELD>`` (``-`` in a name as
``_``); a name the file does not define adds a channel when ``..._KIND`` is set.
A secret field ``<x>_env`` at a path also takes its value from ``HUB_<PATH>__<X>``
or the file ``HUB_<PATH>__<X>_FILE`` names (``HUB_SECRET_KEY_FILE``,
``HUB_CHANNELS__SMS__TOKEN``). ``docs/configuration.md`` tells admins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, get_args, get_origin

from pydantic_settings import EnvSettingsSource, SettingsError
from pydantic_settings.sources.utils import parse_env_vars

from config.fields import FieldPath, field_at, nested_models, secret_paths
from config.schema import CHANNEL_TYPES, Settings, default_channels

PREFIX = "HUB_"
DELIMITER = "__"
ENVIRONMENT = "environment"
"""What problems of values from environment variables name as their file."""

CHANNEL_MODELS = {get_args(t.model_fields["kind"].annotation)[0]: t for t in CHANNEL_TYPES}

DataPath = tuple[str | int, ...]


class EnvironmentProblem(Exception):
    def __init__(self, variable: str, reason: str) -> None:
        self.variable = variable
        self.reason = reason
        super().__init__(f"{variable}: {reason}")


class MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(
            Settings,  # a plain model does: the source reads only its fields
            case_sensitive=False,
            env_prefix=PREFIX,
            env_nested_delimiter=DELIMITER,
            env_parse_none_str="null",
        )

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def variable_name(path: tuple[str, ...]) -> str:
    return PREFIX + DELIMITER.join(part.upper() for part in path)


def with_environment(
    data: dict[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[DataPath, str]]:
    """The file's ``data`` with the environment's settings over it, and where each came from.

    The second value maps each setting taken from the environment (its path in
    the returned data, channels by index) to its variable, to name it in problems.
    """
    values = environment_values(environ)
    channel_values = values.pop("channels", None)
    origins: dict[DataPath, str] = dict(leaves(values, ()))
    merged = deep_merge(data, values)
    if isinstance(channel_values, list):
        merged["channels"] = channel_values
        origins[("channels",)] = variable_name(("channels",))
    elif isinstance(channel_values, dict):
        merged["channels"] = merge_channels(merged.get("channels"), channel_values, origins)
    add_direct_secrets(merged, environ, origins)
    return merged, origins


def environment_values(environ: Mapping[str, str]) -> dict[str, Any]:
    try:
        return MappingSource(environ)()
    except SettingsError as error:
        field = re.search(r'field "([^"]+)"', str(error))
        prefix = variable_name((field.group(1),) if field else ())
        raise EnvironmentProblem(unparsable(environ, prefix), "not valid JSON") from None


def unparsable(environ: Mapping[str, str], prefix: str) -> str:
    """The variable under ``prefix`` whose JSON value does not parse (else the prefix)."""
    for name, value in environ.items():
        if name.upper().startswith(prefix) and value.lstrip()[:1] in ("[", "{"):
            try:
                json.loads(value)
            except ValueError:
                return name
    return prefix


def leaves(values: dict[str, Any], path: tuple[str, ...]) -> Iterator[tuple[DataPath, str]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, (*path, key))
        else:
            yield (*path, key), variable_name((*path, key))


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = {**base}
    for key, value in over.items():
        inner = merged.get(key)
        if isinstance(value, dict) and isinstance(inner, dict):
            merged[key] = deep_merge(inner, value)
        else:
            merged[key] = value
    return merged


def env_key(channel_name: object) -> str:
    return str(channel_name).replace("-", "_").lower()


def merge_channels(
    channels: object, by_name: dict[str, Any], origins: dict[DataPath, str]
) -> list[Any]:
    """The file's channels (without a list in the file, the default ones) with
    ``HUB_CHANNELS__<NAME>__...`` over them; new ones appended."""
    merged = list(channels) if isinstance(channels, list) else default_channel_data()
    index = {env_key(c.get("name")): i for i, c in enumerate(merged) if isinstance(c, dict)}
    for key, values in by_name.items():
        prefix = variable_name(("channels", key))
        if not isinstance(values, dict):
            raise EnvironmentProblem(prefix, "set the channel's fields, as " + prefix + "__<FIELD>")
        if key not in index:
            if "kind" not in values:
                raise EnvironmentProblem(
                    prefix, f"no channel {key} in the settings file; set {prefix}__KIND to add one"
                )
            index[key] = len(merged)
            merged.append({"name": key})
        channel = deep_merge(merged[index[key]], values)
        model = CHANNEL_MODELS.get(channel.get("kind"))
        for path, variable in leaves(values, ("channels", key)):
            origins[("channels", index[key], *path[2:])] = variable
            if model is not None:
                decode_json(channel, path[2:], model, variable)
        merged[index[key]] = channel
    return merged


def decode_json(channel: dict[str, Any], path: DataPath, model: type, variable: str) -> None:
    """A channel's list or mapping given as JSON, decoded (pydantic-settings cannot: it does
    not know the type of a field inside a list of channels)."""
    *sections, name = path
    parent = channel
    for section in sections:
        parent = parent[section]
    value = parent[name]
    if not isinstance(value, str) or not holds_json(model, tuple(str(p) for p in path)):
        return
    try:
        parent[name] = json.loads(value)
    except ValueError:
        raise EnvironmentProblem(variable, "not valid JSON") from None


def holds_json(model: type, path: FieldPath) -> bool:
    try:
        annotation = field_at(model, path).annotation
    except (KeyError, ValueError):
        return False
    return complex_type(annotation)


def complex_type(annotation: object) -> bool:
    if get_origin(annotation) in (list, dict) or nested_models(annotation):
        return True
    return any(complex_type(arg) for arg in get_args(annotation))


def add_direct_secrets(
    data: dict[str, Any], environ: Mapping[str, str], origins: dict[DataPath, str]
) -> None:
    """Point each secret field at ``HUB_<PATH>__<X>`` when it or its ``_FILE`` is set."""
    for path in secret_paths(Settings):
        point_at_variable(data, path, path, environ, origins, ())
    channels = data.get("channels")
    for i, channel in enumerate(channels if isinstance(channels, list) else []):
        model = CHANNEL_MODELS.get(channel.get("kind")) if isinstance(channel, dict) else None
        if model is None:
            continue
        for path in secret_paths(model):
            named = ("channels", env_key(channel.get("name")), *path)
            point_at_variable(channel, path, named, environ, origins, ("channels", i))


def point_at_variable(
    data: dict[str, Any],
    path: FieldPath,
    named: FieldPath,
    environ: Mapping[str, str],
    origins: dict[DataPath, str],
    at: DataPath,
) -> None:
    short = path[-1].removesuffix("_env")
    variable = variable_name((*named[:-1], short))
    if variable not in environ and f"{variable}_FILE" not in environ:
        return
    section = data
    for name in path[:-1]:
        inner = section.get(name)
        if not isinstance(inner, dict):
            inner = section[name] = {}
        section = inner
    for taken in (short, f"{short}_file"):
        section.pop(taken, None)
        origins.pop((*at, *path[:-1], taken), None)
    section[path[-1]] = variable
    origins[(*at, *path)] = variable if variable in environ else f"{variable}_FILE"


def default_channel_data() -> list[dict[str, Any]]:
    return [c.model_dump(mode="json", exclude_defaults=True) for c in default_channels()]
