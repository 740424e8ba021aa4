"""Parameter declarations: each route lists its parameters once, for validation and the spec.

A `Param` carries its name, where it is (query or path), its JSON Schema for
OpenAPI and the parser that validates it. `parse_args` checks a request
against a route's declarations: unknown, repeated, missing and malformed
parameters are all reported together in one 400 that names each of them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypeVar, cast

from aiohttp import web

from api.problems import Problem, invalid_params

__all__ = [
    "CAMERA_UID_PATTERN",
    "GRID_ID_PATTERN",
    "JSON_MEDIA_TYPES",
    "MAX_LIMIT",
    "Args",
    "Param",
    "bbox",
    "choice",
    "choices",
    "integer",
    "json_object",
    "matching",
    "parse_args",
    "point",
    "positive_number",
    "rfc3339",
    "strings",
    "text",
]

MAX_LIMIT: Final = 1000
#: A camera's global id, DEPARTMENT:ID, as the config allows them.
CAMERA_UID_PATTERN: Final = r"^[a-z0-9_]{1,32}:[A-Za-z0-9_-]{1,64}$"
#: A grid cell id: the characters of a camera id.
GRID_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
#: Media types a JSON body may be sent as (a PATCH is a JSON merge patch, RFC 7396).
JSON_MEDIA_TYPES: Final = ("application/json", "application/merge-patch+json")
_T = TypeVar("_T")
Parser = Callable[[str], object]
BBox = tuple[float, float, float, float]

_RFC3339: Final = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


@dataclass(frozen=True)
class Param:
    """One declared parameter of a route."""

    name: str
    description: str
    parse: Parser
    schema: Mapping[str, Any]
    location: Literal["query", "path"] = "query"
    required: bool = False
    default: object = None
    #: For path parameters: the regular expression the router matches.
    pattern: str | None = None
    example: str | None = None

    def openapi(self) -> dict[str, Any]:
        """This parameter as an OpenAPI 3.1 Parameter Object."""
        schema = dict(self.schema)
        if self.default is not None:
            schema["default"] = self.default
        spec: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": self.required or self.location == "path",
            "description": self.description,
            "schema": schema,
        }
        if self.example is not None:
            spec["example"] = self.example
        return spec


@dataclass(frozen=True)
class Args:
    """The parsed parameters of one request, read through typed accessors."""

    values: Mapping[str, object] = field(default_factory=dict)

    def _get(self, name: str, kind: type[_T]) -> _T | None:
        value = self.values.get(name)
        if value is None:
            return None
        if not isinstance(value, kind):
            raise TypeError(f"parameter {name} is {type(value).__name__}, not {kind.__name__}")
        return value

    def string(self, name: str) -> str | None:
        """A text parameter, or None when absent."""
        return self._get(name, str)

    def strings(self, name: str) -> tuple[str, ...]:
        """A comma-list parameter; empty when absent."""
        return cast(tuple[str, ...], self._get(name, tuple) or ())

    def number(self, name: str) -> float | None:
        """A number parameter, or None when absent."""
        return self._get(name, float)

    def integer(self, name: str) -> int:
        """An integer parameter that has a default."""
        value = self._get(name, int)
        if value is None:
            raise KeyError(name)
        return value

    def time(self, name: str) -> datetime | None:
        """A timestamp parameter (aware), or None when absent."""
        return self._get(name, datetime)

    def bbox(self, name: str) -> BBox | None:
        """A bounding box (min_lon, min_lat, max_lon, max_lat), or None when absent."""
        return cast(BBox | None, self._get(name, tuple))

    def point(self, name: str) -> tuple[float, float] | None:
        """A (lon, lat) point, or None when absent."""
        return cast(tuple[float, float] | None, self._get(name, tuple))


def parse_args(request: web.Request, params: Sequence[Param]) -> Args:
    """Check the request's query and path against `params`; raise one 400 for every problem."""
    declared = {p.name: p for p in params if p.location == "query"}
    problems: list[tuple[str, str]] = []
    values: dict[str, object] = {}
    query = request.rel_url.query
    for name in dict.fromkeys(query.keys()):
        if name not in declared:
            allowed = ", ".join(declared) or "no query parameters"
            problems.append((name, f"unknown parameter; this route takes {allowed}"))
        elif len(query.getall(name)) > 1:
            problems.append((name, "given more than once; use one comma-separated list"))
    for param in params:
        raw = query.get(param.name) if param.location == "query" else None
        if param.location == "path":
            raw = request.match_info.get(param.name)
        if raw is None:
            if param.required:
                problems.append((param.name, "required"))
            values[param.name] = param.default
            continue
        try:
            if "\x00" in raw:
                # PostgreSQL text cannot hold NUL; no parameter has a use for it.
                raise ValueError("must not contain a NUL character")
            values[param.name] = param.parse(raw)
        except ValueError as exc:
            problems.append((param.name, str(exc)))
    if problems:
        raise invalid_params(*problems)
    return Args(values)


# Parsers: each takes the raw text and returns the value or raises ValueError(reason).


def text(max_length: int = 200, *, allow_empty: bool = False) -> Parser:
    """Any text up to `max_length` characters (an empty value means absent if allowed)."""

    def parse(raw: str) -> str | None:
        if not raw:
            if allow_empty:
                return None
            raise ValueError("must not be empty")
        if len(raw) > max_length:
            raise ValueError(f"longer than {max_length} characters")
        return raw

    return parse


def strings(allowed: Sequence[str] | None = None, *, max_items: int = 100) -> Parser:
    """A comma-separated list (any of them); items non-empty, and among `allowed` if given."""

    def parse(raw: str) -> tuple[str, ...]:
        items = raw.split(",")
        if any(not item for item in items):
            raise ValueError("an empty item in the comma-separated list")
        if len(items) > max_items:
            raise ValueError(f"more than {max_items} items")
        if allowed is not None:
            unknown = [item for item in items if item not in allowed]
            if unknown:
                raise ValueError(f"unknown value {unknown[0]!r}; expected {' | '.join(allowed)}")
        return tuple(dict.fromkeys(items))

    return parse


def matching(pattern: str, rule: str) -> Parser:
    """Text that matches the regular expression `pattern` in full; `rule` says what that means."""
    compiled = re.compile(pattern.removeprefix("^").removesuffix("$"), re.ASCII)

    def parse(raw: str) -> str:
        if compiled.fullmatch(raw) is None:
            raise ValueError(rule)
        return raw

    return parse


def choice(allowed: Sequence[str]) -> Parser:
    """One of `allowed`."""

    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"expected {' | '.join(allowed)}")
        return raw

    return parse


def choices(allowed: Sequence[str]) -> dict[str, Any]:
    """The JSON Schema of a comma list of `allowed` values."""
    return {"type": "string", "pattern": f"^({'|'.join(allowed)})(,({'|'.join(allowed)}))*$"}


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw[:40]!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _numbers(raw: str, count: int, shape: str) -> list[float]:
    parts = raw.split(",")
    if len(parts) != count:
        raise ValueError(f"expected {shape}")
    return [_number(part) for part in parts]


def _check_lon_lat(lon: float, lat: float) -> None:
    if not -180.0 <= lon <= 180.0:
        raise ValueError("longitude must be within -180..180")
    if not -90.0 <= lat <= 90.0:
        raise ValueError("latitude must be within -90..90")


def bbox(raw: str) -> BBox:
    """`minLon,minLat,maxLon,maxLat`, inclusive, minimum not above maximum."""
    x0, y0, x1, y1 = _numbers(raw, 4, "minLon,minLat,maxLon,maxLat")
    _check_lon_lat(x0, y0)
    _check_lon_lat(x1, y1)
    if x0 > x1 or y0 > y1:
        raise ValueError("the minimum exceeds the maximum (expected minLon,minLat,maxLon,maxLat)")
    return (x0, y0, x1, y1)


def point(raw: str) -> tuple[float, float]:
    """`lon,lat`."""
    lon, lat = _numbers(raw, 2, "lon,lat")
    _check_lon_lat(lon, lat)
    return (lon, lat)


def positive_number(raw: str) -> float:
    """A finite number above zero."""
    value = _number(raw)
    if value <= 0:
        raise ValueError("must be above zero")
    return value


def integer(minimum: int, maximum: int) -> Parser:
    """A decimal integer within [minimum, maximum]."""

    def parse(raw: str) -> int:
        if not raw.isascii() or not raw.isdigit():
            raise ValueError(f"expected an integer from {minimum} to {maximum}")
        value = int(raw)
        if not minimum <= value <= maximum:
            raise ValueError(f"expected an integer from {minimum} to {maximum}")
        return value

    return parse


def rfc3339(raw: str) -> datetime:
    """An RFC 3339 timestamp with its offset (`2024-05-01T08:00:00+08:00` or `…Z`)."""
    match = _RFC3339.fullmatch(raw)
    if match is None:
        hint = ""
        if re.fullmatch(r"[\dT:.-]+ \d{2}:\d{2}", raw, re.ASCII):
            hint = " ('+' in a query string must be sent as %2B)"
        raise ValueError(
            "expected an RFC 3339 time with an offset, e.g. 2024-05-01T08:00:00Z" + hint
        )
    day, clock, fraction, offset = match.groups()
    fraction = (fraction or "")[:7]  # Python keeps microseconds: a dot and six digits
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{day}T{clock}{fraction}{offset}")
    except ValueError as exc:
        raise ValueError(f"not a valid time: {exc}") from None


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object, or a problem: 415, 413 (too large) or 400 `body`.

    The size limit is the app's `client_max_size`; reading past it raises 413.
    """
    if request.content_type not in JSON_MEDIA_TYPES:
        raise Problem(415, f"the body must be {' or '.join(JSON_MEDIA_TYPES)}")
    raw = await request.read()
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid_params(("body", "not valid JSON")) from None
    if not isinstance(value, dict):
        raise invalid_params(("body", "expected a JSON object"))
    return value
