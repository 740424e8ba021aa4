"""Opaque keyset cursors: URL-safe base64 of the JSON of a page's last sort key.

A cursor names its kind (which ordering it continues), so one taken from a
camera list cannot be passed to a snapshot list by mistake. Clients treat
cursors as opaque; their content may change between versions.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

__all__ = ["InvalidCursor", "decode_cursor", "decode_time", "encode_cursor", "encode_time"]

CursorValue = str | int | float


class InvalidCursor(ValueError):
    """A cursor that this query did not hand out (malformed, or of another ordering)."""


def encode_cursor(kind: str, *key: CursorValue) -> str:
    """The cursor continuing after `key` in the ordering called `kind`."""
    raw = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(token: str, kind: str, types: tuple[type, ...]) -> tuple[CursorValue, ...]:
    """The sort key in `token`, checked against `kind` and the expected `types`.

    Raises `InvalidCursor` for anything else. `int` is not accepted where a
    `float` is expected unless the JSON held a number (ints are floats here).
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("not a cursor of this list") from None
    if not isinstance(value, list) or len(value) != len(types) + 1 or value[0] != kind:
        raise InvalidCursor("not a cursor of this list")
    key: list[CursorValue] = []
    for item, expected in zip(value[1:], types, strict=True):
        if expected is float and isinstance(item, int) and not isinstance(item, bool):
            item = float(item)
        if not isinstance(item, expected) or not isinstance(item, str | int | float):
            raise InvalidCursor("not a cursor of this list")
        if isinstance(item, bool):
            raise InvalidCursor("not a cursor of this list")
        key.append(item)
    return tuple(key)


def encode_time(value: datetime) -> str:
    """A timestamp as it goes into a cursor (ISO 8601 with its offset, microseconds kept)."""
    return value.isoformat()


def decode_time(value: CursorValue) -> datetime:
    """The timestamp of a cursor key; `InvalidCursor` unless it is an aware ISO 8601 time."""
    if not isinstance(value, str):
        raise InvalidCursor("not a cursor of this list")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCursor("not a cursor of this list") from None
    if parsed.tzinfo is None:
        raise InvalidCursor("not a cursor of this list")
    return parsed
