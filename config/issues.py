"""Config errors as ``FILE:LINE PATH: message`` lines, and pydantic errors rewritten as such.

Pydantic's own messages speak to programmers ("Input should be a valid
dictionary or instance of AuthSettings"); these speak to the department
administrator who wrote the file.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from config.yamlpos import DocPath, LocatedDocument

__all__ = [
    "ConfigInvalid",
    "ConfigIssue",
    "format_path",
    "issues_from_validation",
    "plain_message",
]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one file: ``file`` is relative to the config folder, in posix form."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.path}: {self.message}"


class ConfigInvalid(Exception):
    """The config folder has problems; ``issues`` lists every one of them."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def format_path(path: Sequence[str | int]) -> str:
    """``("cameras", 2, "snapshot", "url")`` -> ``cameras[2].snapshot.url``; ``-`` for the root."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "-"


def issues_from_validation(
    exc: ValidationError, doc: LocatedDocument, file: str, model: type[BaseModel]
) -> list[ConfigIssue]:
    """One :class:`ConfigIssue` per pydantic error, at the line of the value it is about."""
    issues = []
    for error in exc.errors(include_url=False):
        path = _strip_tags(error["loc"], doc.data)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = (*path, str(error.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        message = plain_message(error, model, path, doc.data)
        issues.append(ConfigIssue(file, doc.line_of(path), format_path(path), message))
    return issues


def _strip_tags(loc: tuple[str | int, ...], data: Any) -> DocPath:
    """Drop the tags a discriminated union adds to locs (``snapshot.http.url``)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict):
            if isinstance(part, str) and part not in current and part in _tags(current):
                continue
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            current = None
        path.append(part)
    return tuple(path)


def _tags(mapping: dict[str, Any]) -> set[str]:
    return {str(mapping[key]) for key in ("kind", "type") if key in mapping}


_PLAIN: dict[str, str] = {
    "missing": "field required",
    "model_type": "should be a mapping of 'field: value' lines",
    "model_attributes_type": "should be a mapping of 'field: value' lines",
    "dict_type": "should be a mapping of 'field: value' lines",
    "list_type": "should be a list",
    "tuple_type": "should be a list",
    "float_type": "should be a number",
    "float_parsing": "should be a number",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "finite_number": "should be a finite number",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
    "path_type": "should be a file path",
}


def plain_message(error: ErrorDetails, model: type[BaseModel], path: DocPath, data: Any) -> str:
    """The message for one pydantic error; ``model`` and ``data`` help suggest field names."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        message = f"unknown field '{name}'"
        known = _fields_at(model, path[:-1], data)
        match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        return f"{message}; did you mean '{match[0]}'?" if match else message
    if kind == "union_tag_invalid":
        return f"unknown {path[-1]} '{ctx.get('tag')}'; should be one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "field required"
    if kind == "string_type":
        if isinstance(error.get("input"), bool | int | float):
            return "should be text; put the value in quotes"
        return "should be text"
    if kind in _PLAIN:
        return _PLAIN[kind]
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if message.startswith("Input should"):
        message = "should" + message.removeprefix("Input should")
    return message


def _fields_at(model: type[BaseModel], path: DocPath, data: Any) -> set[str]:
    """The field names of the model that validates the mapping at ``path`` (empty if unknown)."""
    annotation: Any = model
    current = data
    for part in path:
        if isinstance(part, int):
            annotation = _item_type(annotation)
            current = current[part] if isinstance(current, list) and part < len(current) else None
            continue
        found = _model_of(annotation, current)
        if found is None or part not in found.model_fields:
            return set()
        annotation = found.model_fields[part].annotation
        current = current.get(part) if isinstance(current, dict) else None
    found = _model_of(annotation, current)
    return set(found.model_fields) if found is not None else set()


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _item_type(annotation: Any) -> Any:
    annotation = _unwrap(annotation)
    for member in _members(annotation):
        if typing.get_origin(member) in (tuple, list):
            return typing.get_args(member)[0]
    return None


def _members(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_unwrap(member) for member in typing.get_args(annotation)]
    return [annotation]


def _model_of(annotation: Any, value: Any) -> type[BaseModel] | None:
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(models) <= 1:
        return models[0] if models else None
    for candidate in models:
        for name, field in candidate.model_fields.items():
            literal = _unwrap(field.annotation)
            if (
                typing.get_origin(literal) is typing.Literal
                and isinstance(value, dict)
                and value.get(name) in typing.get_args(literal)
            ):
                return candidate
    return None
