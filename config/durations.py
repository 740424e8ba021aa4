"""Durations as department administrators write them: ``500ms``, ``10s``, ``5m``, ``1h``, ``90d``.

A duration is one or more ``NUMBER UNIT`` parts written together (``1h30m``);
a bare number is refused because nobody can tell whether ``300`` meant
seconds or minutes.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["Duration", "PositiveDuration", "format_duration", "parse_duration"]

_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_EXAMPLES = "e.g. 500ms, 10s, 5m, 1h or 90d"


def parse_duration(text: str) -> timedelta:
    """Parse ``text`` such as ``"5m"`` or ``"1h30m"``; raise ``ValueError`` with a plain message."""
    compact = text.strip()
    position = 0
    seconds = 0.0
    while position < len(compact):
        match = _PART.match(compact, position)
        if match is None:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact):
        raise ValueError(f"'{text}' is not a duration; write a number and a unit, {_EXAMPLES}")
    if not math.isfinite(seconds):
        raise ValueError(f"'{text}' is too long a duration")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Write ``value`` back in the shortest unit that keeps it exact (``300s`` -> ``5m``)."""
    millis = round(value.total_seconds() * 1000)
    for unit in ("d", "h", "m", "s"):
        size = round(_UNITS[unit] * 1000)
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def _to_timedelta(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise PydanticCustomError("duration", f"should be a duration, {_EXAMPLES}")
    if isinstance(value, int | float):
        raise PydanticCustomError(
            "duration", "a duration needs a unit, e.g. {number}s or {number}m", {"number": value}
        )
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise PydanticCustomError("duration", str(exc)) from None
    raise PydanticCustomError("duration", f"should be a duration, {_EXAMPLES}")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise PydanticCustomError("duration", "should be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(_to_timedelta)]
"""A ``timedelta`` field written as ``5m``, ``10s``, ``1h``, ``90d`` or ``500ms``."""

PositiveDuration = Annotated[timedelta, BeforeValidator(_to_timedelta), AfterValidator(_positive)]
"""A :data:`Duration` that must be longer than zero."""
