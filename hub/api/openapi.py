"""The OpenAPI document, written from the same endpoint declarations that check requests."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from hub.api.framework import Access, Api, Endpoint
from hub.auth import SESSION_COOKIE


def openapi_document(api: Api, title: str, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for endpoint in api.endpoints:
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
            "operationId": endpoint.operation_id or endpoint.handler.__name__,
            "parameters": _parameters(endpoint, schemas),
            "responses": _responses(endpoint, schemas),
        }
        if endpoint.access is not Access.PUBLIC:
            operation["security"] = [{"session": []}, {"bearer": []}]
            operation["x-access"] = endpoint.access.value
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(endpoint.body, schemas)}},
            }
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(endpoint: Endpoint, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in re.findall(r"\{(\w+)(?::[^}]*)?\}", endpoint.path)
    ]
    if endpoint.query is not None:
        for name, field in endpoint.query.model_fields.items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": field.is_required(),
                    "description": field.description or "",
                    "schema": endpoint.query.model_json_schema()["properties"][name],
                }
            )
    return parameters


def _responses(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    error = {"description": "error", "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    success: dict[str, Any] = {"description": "success"}
    if model := endpoint.response:
        success["content"] = {"application/json": {"schema": _schema_ref(model, schemas)}}
    responses: dict[str, Any] = {str(endpoint.status): success}
    codes = ["400", "413", "422"] if endpoint.body else ["400"]
    if endpoint.access is not Access.PUBLIC:
        codes += ["401", "403"]
    if "{" in endpoint.path:
        codes.append("404")
    for code in codes:
        responses[code] = error
    return responses


ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
