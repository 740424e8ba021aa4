"""Field types shared by the config models, each with a message an administrator can act on."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from datetime import date, time
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = [
    "CAMERA_ID_RULE",
    "CameraId",
    "DepartmentId",
    "GbId",
    "GridId",
    "HttpUrl",
    "IpNetwork",
    "Latitude",
    "Longitude",
    "RtspUrl",
    "check_camera_id",
    "check_url",
]

CAMERA_ID_RULE = "should be 1 to 64 letters, digits, '_' or '-'"
_CAMERA_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DEPARTMENT_ID = re.compile(r"[a-z0-9_]{1,32}")
_GB_ID = re.compile(r"[0-9]{20}")


def _quoted(value: Any) -> Any:
    """YAML reads an unquoted 0012 as the number 10: refuse numbers so ids stay as written."""
    if isinstance(value, bool | int | float | date | time):
        raise PydanticCustomError("quoted_id", "ids must be quoted strings")
    return value


def _pattern(regex: re.Pattern[str], rule: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if regex.fullmatch(value) is None:
            raise PydanticCustomError("id_pattern", rule)
        return value

    return check


def check_camera_id(value: str) -> str:
    """Return ``value`` if it is a valid camera id, else raise ``ValueError``."""
    if _CAMERA_ID.fullmatch(value) is None:
        raise ValueError(f"camera id '{value}' {CAMERA_ID_RULE}")
    return value


CameraId = Annotated[
    str, BeforeValidator(_quoted), AfterValidator(_pattern(_CAMERA_ID, CAMERA_ID_RULE))
]
"""A camera id, unique in its department: ``[A-Za-z0-9_-]{1,64}``."""

GridId = Annotated[
    str, BeforeValidator(_quoted), AfterValidator(_pattern(_CAMERA_ID, CAMERA_ID_RULE))
]
"""A grid cell id (网格编码), same characters as a camera id."""

DepartmentId = Annotated[
    str,
    BeforeValidator(_quoted),
    AfterValidator(_pattern(_DEPARTMENT_ID, "should be 1 to 32 lowercase letters, digits or '_'")),
]
"""A department id: ``[a-z0-9_]{1,32}``."""

GbId = Annotated[
    str, BeforeValidator(_quoted), AfterValidator(_pattern(_GB_ID, "should be 20 digits"))
]
"""A 20-digit GB/T 28181 device or platform id."""


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    """Return ``value`` if it is a URL with one of ``schemes``, else raise ``ValueError``.

    User names and passwords in a URL are refused: they would travel with the
    URL into the catalog and logs; credentials belong in ``auth``.
    """
    if any(char.isspace() for char in value):
        raise ValueError("a URL cannot contain spaces")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        raise ValueError(f"'{value}' is not a valid URL") from None
    if parts.scheme.lower() not in schemes:
        names = " or ".join(f"'{scheme}'" for scheme in schemes)
        raise ValueError(f"URL scheme should be {names}")
    if not parts.hostname:
        raise ValueError("the URL needs a host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a user name or password in the URL is not allowed; use auth")
    return value


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            return check_url(value, schemes)
        except ValueError as exc:
            raise PydanticCustomError("url", str(exc)) from None

    return check


HttpUrl = Annotated[str, AfterValidator(_url(("http", "https")))]
"""An ``http://`` or ``https://`` URL, kept exactly as written."""

RtspUrl = Annotated[str, AfterValidator(_url(("rtsp", "rtsps")))]
"""An ``rtsp://`` or ``rtsps://`` URL, kept exactly as written."""


def _in_range(name: str, limit: float) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not math.isfinite(value) or not -limit <= value <= limit:
            raise PydanticCustomError(
                "coordinate", f"{name} should be between -{limit:g} and {limit:g}"
            )
        return value

    return check


Longitude = Annotated[float, AfterValidator(_in_range("longitude", 180))]
"""Degrees east, -180 to 180."""

Latitude = Annotated[float, AfterValidator(_in_range("latitude", 90))]
"""Degrees north, -90 to 90."""


def _network(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            pass
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    raise PydanticCustomError(
        "ip_network", "'{value}' is not an IP network, e.g. 10.0.0.0/8", {"value": value}
    )


IpNetwork = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_network)]
"""An IP network such as ``10.43.0.0/16`` or a single address."""
