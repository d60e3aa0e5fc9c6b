"""Walking the settings schema: every field of a model and of the models inside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from connectors.settings import EnvSecret

FieldPath = tuple[str, ...]


def nested_models(annotation: object) -> list[type[BaseModel]]:
    """The models a field holds directly (``X`` or ``X | None``), not inside a list or dict."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (list, dict, tuple, set):
        return []
    return [model for arg in get_args(annotation) for model in nested_models(arg)]


def holds_secret(annotation: object) -> bool:
    """Whether a field is a ``FromEnv`` secret (``connectors.settings``), optional or not."""
    return annotation is EnvSecret or any(holds_secret(arg) for arg in get_args(annotation))


def setting_paths(model: type[BaseModel], prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Every field of ``model``, and of the models it holds, as a path of names.

    Fields that hold lists or mappings (channels, calendars' spans) are leaves.
    """
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        yield path
        for inner in nested_models(field.annotation):
            yield from setting_paths(inner, path)


def secret_paths(model: type[BaseModel]) -> Iterator[FieldPath]:
    """The paths of ``model``'s secret fields (the ones ending in ``_env``)."""
    for path in setting_paths(model):
        if holds_secret(field_at(model, path).annotation):
            yield path


def field_at(model: type[BaseModel], path: FieldPath) -> FieldInfo:
    field = model.model_fields[path[0]]
    for name in path[1:]:
        (inner,) = nested_models(field.annotation)
        field = inner.model_fields[name]
    return field
