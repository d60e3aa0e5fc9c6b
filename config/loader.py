"""Loading the YAML settings file and the environment, every problem named by file (or
variable), field and reason."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config.environment import ENVIRONMENT, DataPath, EnvironmentProblem, with_environment
from config.schema import CHANNEL_KINDS, Settings, located_errors

CONFIG_VARIABLE = "HUB_CONFIG"
"""Names the settings file when no path is given (``hub run`` without ``--config``)."""


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class ConfigError(Exception):
    """The settings file cannot be used; ``problems`` says every reason at once."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings: ``environ``'s ``HUB_*`` variables over the file's.

    Without ``path`` the file is the one ``HUB_CONFIG`` names, if any; without
    a file, the embedded defaults. ``config.environment`` says which variables count.
    """
    environ = os.environ if environ is None else environ
    file = str(path or environ.get(CONFIG_VARIABLE) or "") or None
    data = read_yaml(file) if file is not None else {}
    try:
        merged, origins = with_environment(data, environ)
    except EnvironmentProblem as problem:
        raise ConfigError([ConfigProblem(ENVIRONMENT, problem.variable, problem.reason)]) from None
    try:
        return Settings.model_validate(merged, context={"environ": environ})
    except ValidationError as error:
        raise ConfigError(
            [located(e, file, origins) for e in located_errors(error.errors())]
        ) from None


def located(error: ErrorDetails, file: str | None, origins: dict[DataPath, str]) -> ConfigProblem:
    """The problem named by the variable its value came from, else by file and field."""
    loc = without_kinds(error["loc"])
    for end in range(len(loc), 0, -1):
        variable = origins.get(loc[:end])
        if variable is not None:
            return ConfigProblem(ENVIRONMENT, variable, reason(error))
    return ConfigProblem(file or "(defaults)", field_path(error["loc"]), reason(error))


def without_kinds(loc: tuple[int | str, ...]) -> DataPath:
    """``loc`` without the channel kinds pydantic puts after a list index for tagged unions."""
    kept: list[int | str] = []
    for item in loc:
        if not (kept and isinstance(kept[-1], int) and item in CHANNEL_KINDS):
            kept.append(item)
    return tuple(kept)


def read_yaml(file: str) -> dict[str, object]:
    try:
        with open(file, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(file, "(file)", "file not found")]) from None
    except OSError as error:
        raise ConfigError([ConfigProblem(file, "(file)", error.strerror or str(error))]) from None
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem(file, yaml_position(error), yaml_reason(error))]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(file, "(top level)", "must be a mapping of settings")])
    return data


def yaml_position(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"


def yaml_reason(error: yaml.YAMLError) -> str:
    return f"invalid YAML: {getattr(error, 'problem', None) or error}"


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('channels', 1, 'api', 'token_env')`` becomes ``channels[1].token_env``.

    Pydantic puts the discriminator's value after a list index for tagged unions;
    the admin never wrote it, so it is left out.
    """
    parts = [f"[{item}]" if isinstance(item, int) else f".{item}" for item in without_kinds(loc)]
    return "".join(parts).removeprefix(".") or "(top level)"


def reason(error: Mapping[str, object]) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    if error["type"] == "missing":
        return "required setting is missing"
    return message.removeprefix("Value error, ")
