"""The OpenAPI 3.1 document, written from the route declarations the handlers validate with."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from importlib import metadata
from typing import Any

from api.auth import PUBLIC_PATHS
from api.params import JSON_MEDIA_TYPES
from api.problems import PROBLEM_MEDIA_TYPE
from api.routing import Answer, Route
from api.schemas import SCHEMAS, ref

__all__ = ["build_openapi"]

_DESCRIPTION = """\
One catalog of every department's cameras and snapshots, searchable by place,
grid cell, department, status and text.

Every route but health, metrics, this spec, its docs page and the console
needs `Authorization: Bearer TOKEN` (`camgrid token create`). Lists answer
`{"items": [...], "next_cursor": ...}`: pass `next_cursor` back as `cursor=`
for the next page; every item appears once. Errors are
`application/problem+json`; a bad parameter is named in `invalid_params`.
Times are RFC 3339; answers give them in UTC with `Z`.
"""


def _version() -> str:
    try:
        return metadata.version("camgrid")
    except metadata.PackageNotFoundError:
        return "0.1.0"


def _answer(answer: Answer) -> dict[str, Any]:
    spec: dict[str, Any] = {"description": answer.description}
    content = {}
    if answer.schema is not None:
        content[answer.media_type] = {"schema": dict(answer.schema)}
    content.update({media: {"schema": dict(schema)} for media, schema in answer.also.items()})
    if content:
        spec["content"] = content
    if answer.headers:
        spec["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in answer.headers.items()
        }
    return spec


def _problem(status: int, description: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("Problem")}},
    }
    if status == 401:
        spec["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}
        }
    return spec


def _operation(route: Route) -> dict[str, Any]:
    public = route.path in PUBLIC_PATHS
    responses: dict[str, Any] = {
        str(status): _answer(answer) for status, answer in sorted(route.answers.items())
    }
    problems: dict[int, str] = {}
    if route.params or route.body is not None:
        problems[400] = "A parameter or body field is unknown, repeated, missing or malformed"
    if not public:
        problems[401] = "No token, or an unknown, expired or revoked one"
    if route.roles is not None:
        problems[403] = f"Only for the {' or '.join(sorted(route.roles))} role"
    for status in route.problems:
        problems.setdefault(status, HTTPStatus(status).phrase)
    for status, description in sorted(problems.items()):
        responses[str(status)] = _problem(status, description)
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": [param.openapi() for param in route.params],
        "responses": responses,
    }
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": dict(route.body)} for media in JSON_MEDIA_TYPES},
        }
    if route.description:
        operation["description"] = route.description
    if public:
        operation["security"] = []
    return operation


def build_openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `routes`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    tags = list(dict.fromkeys(route.tag for route in routes))
    return {
        "openapi": "3.1.0",
        "info": {"title": "camgrid API", "version": _version(), "description": _DESCRIPTION},
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `camgrid token create`.",
                }
            },
        },
        "security": [{"bearer": []}],
    }
