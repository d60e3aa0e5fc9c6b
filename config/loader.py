"""Loading the YAML settings file, with every problem reported as file, field and reason."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from config.schema import CHANNEL_KINDS, Settings, located_errors


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
    """Read and validate ``path``; ``None`` gives the embedded defaults."""
    environ = os.environ if environ is None else environ
    if path is None:
        return Settings.model_validate({}, context={"environ": environ})
    file = str(path)
    data = read_yaml(file)
    try:
        return Settings.model_validate(data, context={"environ": environ})
    except ValidationError as error:
        raise ConfigError(
            [
                ConfigProblem(file, field_path(e["loc"]), reason(e))
                for e in located_errors(error.errors())
            ]
        ) from None


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
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif isinstance(previous, int) and item in CHANNEL_KINDS:
            pass
        else:
            parts.append(f".{item}" if parts else str(item))
        previous = item
    return "".join(parts) or "(top level)"


def reason(error: Mapping[str, object]) -> str:
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown setting"
    if error["type"] == "missing":
        return "required setting is missing"
    return message.removeprefix("Value error, ")
