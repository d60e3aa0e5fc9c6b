"""The OpenAPI document, written from the same endpoint declarations that check requests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter

from connectors.route_docs import Raw, RouteDoc
from hub.api.framework import Access, Api, Endpoint, FileUpload
from hub.auth import CSRF_HEADER, SESSION_COOKIE

REF_TEMPLATE = "#/components/schemas/{model}"
PATH_PARAMETER = re.compile(r"\{(\w+)(?::([^}]*))?\}")


def openapi_document(
    api: Api, others: Iterable[RouteDoc], title: str, version: str
) -> dict[str, Any]:
    """The declared endpoints, then the routes mounted beside them (health, sockets, channels)."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    schemes = dict(SECURITY_SCHEMES)
    for endpoint in api.endpoints:
        path = PATH_PARAMETER.sub(r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    for route in others:
        paths.setdefault(route.path, {})[route.method.lower()] = _other(route, schemas)
        schemes.update(route.security)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": schemes},
    }


def _other(route: RouteDoc, schemas: dict[str, Any]) -> dict[str, Any]:
    success = _success(route.response, schemas)
    if 101 in route.statuses:
        success = {"description": "switching to WebSocket"}
    responses = {str(status): success for status in route.statuses}
    for status in route.errors:
        responses[str(status)] = ERROR
    operation: dict[str, Any] = {
        "summary": route.summary,
        "description": route.description,
        "tags": [route.tag],
        "operationId": route.operation_id,
        "parameters": list(route.parameters),
        "responses": responses,
    }
    if route.security:
        operation["security"] = [{name: []} for name in route.security]
    if route.body is not None:
        operation["requestBody"] = _request_body(route.body, schemas)
    return operation


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": endpoint.operation_id or endpoint.handler.__name__,
        "parameters": _parameters(endpoint),
        "responses": _responses(endpoint, schemas),
    }
    if endpoint.access is not Access.PUBLIC:
        operation["security"] = [{"session": []}, {"bearer": []}]
        operation["x-access"] = endpoint.access.value
    if endpoint.body is not None:
        operation["requestBody"] = _request_body(endpoint.body, schemas)
    return operation


def _request_body(model: type[BaseModel] | FileUpload, schemas: dict[str, Any]) -> dict[str, Any]:
    if isinstance(model, FileUpload):
        upload = {
            "type": "object",
            "properties": {
                model.field: {
                    "type": "string",
                    "format": "binary",
                    "description": model.description,
                }
            },
            "required": [model.field],
        }
        return {"required": True, "content": {"multipart/form-data": {"schema": upload}}}
    return {
        "required": True,
        "content": {"application/json": {"schema": schema_of(model, schemas)}},
    }


def schema_of(shape: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a model or type, its models collected under components/schemas."""
    schema = TypeAdapter(shape).json_schema(ref_template=REF_TEMPLATE)
    for name, definition in schema.pop("$defs", {}).items():
        _collect(name, definition, schemas)
    if isinstance(shape, type) and issubclass(shape, BaseModel):
        _collect(shape.__name__, schema, schemas)
        return {"$ref": REF_TEMPLATE.format(model=shape.__name__)}
    return schema


def _collect(name: str, schema: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Two different models of one name would silently describe each other: refuse that."""
    if schemas.setdefault(name, schema) != schema:
        raise ValueError(f"two different models are both named {name} in the API document")


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": path_schema(pattern)}
        for name, pattern in PATH_PARAMETER.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        properties = endpoint.query.model_json_schema()["properties"]
        for attribute, field in endpoint.query.model_fields.items():
            name = field.alias or attribute  # ``from``, a keyword in Python
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "description": field.description or "",
                    "schema": properties[name],
                }
            )
    return parameters


def path_schema(pattern: str) -> dict[str, Any]:
    """Digits-only segments (``{id:\\d+}``) are integers; any other segment is a string."""
    return {"type": "integer", "minimum": 0} if pattern == r"\d+" else {"type": "string"}


def _responses(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    responses = {_success_code(endpoint): _success(endpoint.response, schemas)}
    codes = ["400", "413", "422"] if endpoint.body else ["400"]
    if isinstance(endpoint.body, FileUpload):
        codes.append("415")
    if endpoint.access is not Access.PUBLIC:
        codes += ["401", "403"]
    if "{" in endpoint.path:
        codes.append("404")
    for code in codes:
        responses[code] = ERROR
    return responses


def _success_code(endpoint: Endpoint) -> str:
    return "204" if endpoint.response is None else str(endpoint.status)


def _success(shape: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    if shape is None:
        return {"description": "done; no content"}
    if isinstance(shape, Raw):
        return {"description": shape.description, "content": {shape.media_type: {}}}
    return {
        "description": "success",
        "content": {"application/json": {"schema": schema_of(shape, schemas)}},
    }


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
ERROR = {"description": "error", "content": {"application/json": {"schema": ERROR_SCHEMA}}}
SECURITY_SCHEMES: dict[str, Any] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": f"the session of POST /api/login; unsafe methods also need {CSRF_HEADER}",
    },
    "bearer": {"type": "http", "scheme": "bearer", "description": "a token of POST /api/tokens"},
}
