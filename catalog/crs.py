"""Coordinate systems used by Chinese map vendors, converted to and from WGS-84.

Departments record camera positions in one of three systems:

- ``wgs84``: GPS, what the catalog stores;
- ``gcj02``: the obfuscated "Mars" system of Gaode/Tencent/Google China maps;
- ``bd09``: Baidu's system, a further offset on top of GCJ-02.

The forward transforms (WGS-84 -> GCJ-02 -> BD-09) are the standard public
algorithms, bit-for-bit the formulas every other implementation uses. Their
inverses have no closed form; the usual one-step approximation is off by up
to a few metres, so the inverses here iterate until the forward transform of
the answer reproduces the input to ``_TOLERANCE_DEG``.

Everything here is a pure function on floats: no I/O, no state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, Literal, TypeAlias

__all__ = [
    "CRS_NAMES",
    "EARTH_RADIUS_M",
    "CrsName",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "haversine_m",
    "out_of_china",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

CrsName: TypeAlias = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: Final[tuple[CrsName, ...]] = ("wgs84", "gcj02", "bd09")

#: Mean Earth radius (IUGG), the sphere every distance in camgrid is measured on.
EARTH_RADIUS_M: Final = 6_371_008.8

# Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm has it.
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
_X_PI: Final = math.pi * 3000.0 / 180.0

# The inverse stops once the forward of its answer is this close to the input
# (1e-11 degrees is about a micrometre); the brief asks for < 1e-9.
_TOLERANCE_DEG: Final = 1e-11
# Each fixed-point step shrinks the error by the size of the offset's
# derivative (about 1e-2), so 3-4 steps suffice; the bound only matters near
# the discontinuous edge of the China box, where no exact inverse exists.
_MAX_ITERATIONS: Final = 30

Point: TypeAlias = tuple[float, float]


def out_of_china(lon: float, lat: float) -> bool:
    """True outside the rough bounding box where GCJ-02 applies an offset.

    The box and its open bounds are those of the public implementations, so
    that a point near the edge is treated the same way by every tool.
    """
    return not (73.66 < lon < 135.05 and 3.86 < lat < 53.55)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> Point:
    """WGS-84 to GCJ-02 (the standard public algorithm); unchanged outside China."""
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> Point:
    """GCJ-02 to BD-09 (Baidu's published formula, applied everywhere)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def wgs84_to_bd09(lon: float, lat: float) -> Point:
    """WGS-84 to BD-09, through GCJ-02."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward: Callable[[float, float], Point], lon: float, lat: float) -> Point:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration.

    The offsets are small and smooth, so ``x <- x - (forward(x) - target)``
    contracts quickly. The first step from ``x = target`` is exactly the
    one-step approximation public packages stop at. Returns the best candidate
    seen if the bound is hit (only possible at the edge of the China box).
    """
    x, y = lon, lat
    best, best_err = (x, y), math.inf
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        err = max(abs(dx), abs(dy))
        if err < best_err:
            best, best_err = (x, y), err
        if not err >= _TOLERANCE_DEG:  # also stops on NaN input
            break
        x, y = x - dx, y - dy
    return best


def gcj02_to_wgs84(lon: float, lat: float) -> Point:
    """GCJ-02 to WGS-84, exact to about a micrometre; unchanged outside China."""
    if out_of_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> Point:
    """BD-09 to GCJ-02, the exact inverse of :func:`gcj02_to_bd09`."""
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> Point:
    """BD-09 to WGS-84, exact to about a micrometre."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84: Final[dict[str, Callable[[float, float], Point]]] = {
    "wgs84": lambda lon, lat: (lon, lat),
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: Final[dict[str, Callable[[float, float], Point]]] = {
    "wgs84": lambda lon, lat: (lon, lat),
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def _lookup(
    table: dict[str, Callable[[float, float], Point]], crs: str
) -> Callable[[float, float], Point]:
    try:
        return table[crs]
    except KeyError:
        raise ValueError(f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}") from None


def to_wgs84(crs: str, lon: float, lat: float) -> Point:
    """Convert a point recorded in ``crs`` to WGS-84. Unknown ``crs``: ValueError."""
    return _lookup(_TO_WGS84, crs)(lon, lat)


def from_wgs84(crs: str, lon: float, lat: float) -> Point:
    """Convert a WGS-84 point to ``crs``. Unknown ``crs``: ValueError."""
    return _lookup(_FROM_WGS84, crs)(lon, lat)


def convert(src: str, dst: str, lon: float, lat: float) -> Point:
    """Convert a point from ``src`` to ``dst`` through WGS-84."""
    if src == dst:
        _lookup(_TO_WGS84, src)  # still reject unknown names
        return lon, lat
    return from_wgs84(dst, *to_wgs84(src, lon, lat))


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres on a sphere of radius ``EARTH_RADIUS_M``."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
