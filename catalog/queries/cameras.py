"""Camera search: filters that combine with AND, comma lists that mean OR, keyset pages.

The rules clients rely on (DESIGN.md, "Details that clients rely on"):

- retired cameras are left out unless `statuses` asks for `retired`;
- `bbox` bounds are inclusive; `near` keeps cameras within `radius_m`
  great-circle metres (on the sphere of `catalog.crs.EARTH_RADIUS_M`) and
  sorts them by distance, then uid; a camera without a location is found by
  every filter but the spatial ones;
- `q` is a substring of the name or the address, case-insensitive for Latin
  letters, any length; `%`, `_` and `\\` in it are literal;
- without `near` the order is by uid (compared as code points on both engines).

SQLite has no trigonometry, so `near` is prefiltered in SQL by a box that
provably holds the circle (`near_box`) and decided in Python with
`haversine_m`. A `bbox` given in another CRS is prefiltered by a box widened
by the largest CRS offset and decided in Python on the converted location.
Tags are decided in Python too: a camera matches when any asked tag is in
its JSON list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crs import CRS_NAMES, EARTH_RADIUS_M, from_wgs84, haversine_m, to_wgs84
from catalog.models import Camera, GridCell
from catalog.queries.cursors import decode_cursor, encode_cursor

__all__ = [
    "CRS_MARGIN_DEG",
    "CameraFilter",
    "CameraPage",
    "CameraRow",
    "CellRef",
    "camera_uid_condition",
    "escape_like",
    "get_camera",
    "list_cameras",
    "near_box",
]

#: How far (degrees, per axis) a GCJ-02 or BD-09 position may lie from its WGS-84
#: position. A camera at WGS-84 p shows at p + offset(p) in the other system, so if
#: that lies in a box, p lies in the box widened by the largest |offset|. Measured
#: offsets stay under 0.017° (BD-09, anywhere); the margin only widens a prefilter.
CRS_MARGIN_DEG: Final = 0.03
# Widening of the `near` box against rounding in its own arithmetic (about 1 cm).
_ROUNDING_DEG: Final = 1e-7
# Rows fetched per round when a Python filter may reject some of them.
_MIN_BATCH: Final = 500

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class CameraFilter:
    """What to look for. Empty tuples and None mean "no restriction".

    `bbox` is (min_lon, min_lat, max_lon, max_lat) and `near` is (lon, lat),
    both in `crs`; `radius_m` is needed with `near` and only with it.
    """

    bbox: BBox | None = None
    near: tuple[float, float] | None = None
    radius_m: float | None = None
    grid_ids: tuple[str, ...] = ()
    communities: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    q: str | None = None
    crs: str = "wgs84"

    def __post_init__(self) -> None:
        if (self.near is None) != (self.radius_m is None):
            raise ValueError("near and radius_m go together")
        if self.radius_m is not None and not self.radius_m >= 0:
            raise ValueError("radius_m must be a non-negative number")
        if self.crs not in CRS_NAMES:
            raise ValueError(f"unknown crs {self.crs!r}")
        if self.bbox is not None and not (
            self.bbox[0] <= self.bbox[2] and self.bbox[1] <= self.bbox[3]
        ):
            raise ValueError("bbox minimum exceeds its maximum")


@dataclass(frozen=True)
class CellRef:
    """The grid cell a camera lies in."""

    grid_id: str
    name: str
    community: str
    street: str


@dataclass(frozen=True)
class CameraRow:
    """A camera with its cell and, under `near`, its distance in metres."""

    camera: Camera
    cell: CellRef | None
    distance_m: float | None = None


@dataclass(frozen=True)
class CameraPage:
    """One page of cameras and the cursor of the next one (None on the last page)."""

    items: list[CameraRow]
    next_cursor: str | None


def escape_like(text: str) -> str:
    """`text` with LIKE's wildcards and the escape character itself made literal (escape `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def near_box(lon: float, lat: float, radius_m: float) -> BBox:
    """A WGS-84 box that holds every point within `radius_m` of (lon, lat).

    The latitude span is the angular radius. The longitude span is the widest
    the circle reaches, asin(sin δ / cos φ), attained at the circle's tangent
    meridians (not at the centre's latitude). When the circle holds a pole or
    crosses the antimeridian the box spans every longitude: larger, never wrong.
    """
    delta = radius_m / EARTH_RADIUS_M
    if delta >= math.pi:
        return (-180.0, -90.0, 180.0, 90.0)
    phi = math.radians(lat)
    lat_lo = math.degrees(phi - delta) - _ROUNDING_DEG
    lat_hi = math.degrees(phi + delta) + _ROUNDING_DEG
    if lat_lo <= -90.0 or lat_hi >= 90.0:
        return (-180.0, max(lat_lo, -90.0), 180.0, min(lat_hi, 90.0))
    span = math.degrees(math.asin(min(1.0, math.sin(delta) / math.cos(phi)))) + _ROUNDING_DEG
    if lon - span < -180.0 or lon + span > 180.0:
        return (-180.0, lat_lo, 180.0, lat_hi)
    return (lon - span, lat_lo, lon + span, lat_hi)


def _near_center(f: CameraFilter) -> tuple[float, float]:
    assert f.near is not None
    return to_wgs84(f.crs, f.near[0], f.near[1])


def _in_box(column_lon: Any, column_lat: Any, box: BBox) -> list[ColumnElement[bool]]:
    return [column_lon.between(box[0], box[2]), column_lat.between(box[1], box[3])]


def _sql_conditions(f: CameraFilter) -> list[ColumnElement[bool]]:
    """The conditions SQL decides exactly, plus the spatial prefilters."""
    conds: list[ColumnElement[bool]] = []
    if f.statuses:
        conds.append(Camera.status.in_(f.statuses))
    else:
        conds.append(Camera.status != "retired")
    if f.departments:
        conds.append(Camera.department_id.in_(f.departments))
    if f.kinds:
        conds.append(Camera.kind.in_(f.kinds))
    if f.grid_ids:
        conds.append(Camera.grid_id.in_(f.grid_ids))
    if f.communities:
        cells = select(GridCell.grid_id).where(GridCell.community.in_(f.communities))
        conds.append(Camera.grid_id.in_(cells))
    if f.q:
        pattern = f"%{escape_like(f.q)}%"
        conds.append(
            or_(
                Camera.name.ilike(pattern, escape="\\"),
                Camera.address.ilike(pattern, escape="\\"),
            )
        )
    if f.bbox is not None:
        box = f.bbox
        if f.crs != "wgs84":
            m = CRS_MARGIN_DEG
            box = (box[0] - m, box[1] - m, box[2] + m, box[3] + m)
        conds.extend(_in_box(Camera.lon, Camera.lat, box))
    if f.near is not None:
        assert f.radius_m is not None
        conds.extend(_in_box(Camera.lon, Camera.lat, near_box(*_near_center(f), f.radius_m)))
    return conds


def _python_check(f: CameraFilter) -> Callable[[Camera], bool] | None:
    """The part of `f` that SQL only prefilters, as a predicate; None when SQL is exact."""
    checks: list[Callable[[Camera], bool]] = []
    if f.tags:
        wanted = set(f.tags)
        checks.append(lambda c: not wanted.isdisjoint(c.tags or ()))
    if f.bbox is not None and f.crs != "wgs84":
        crs, (x0, y0, x1, y1) = f.crs, f.bbox

        def in_crs_box(c: Camera) -> bool:
            if c.lon is None or c.lat is None:
                return False
            x, y = from_wgs84(crs, c.lon, c.lat)
            return x0 <= x <= x1 and y0 <= y <= y1

        checks.append(in_crs_box)
    if f.near is not None:
        (lon, lat), radius = _near_center(f), f.radius_m
        checks.append(
            lambda c: (
                c.lon is not None
                and c.lat is not None
                and haversine_m(lon, lat, c.lon, c.lat) <= (radius or 0.0)
            )
        )
    if not checks:
        return None
    return lambda c: all(check(c) for check in checks)


def _rows_select() -> Select[Camera, str, str, str, str]:
    return select(
        Camera, GridCell.grid_id, GridCell.name, GridCell.community, GridCell.street
    ).outerjoin(GridCell, GridCell.grid_id == Camera.grid_id)


def _row(row: Any, distance_m: float | None = None) -> CameraRow:
    camera, grid_id, name, community, street = row
    cell = None if grid_id is None else CellRef(grid_id, name, community, street)
    return CameraRow(camera, cell, distance_m)


def _uid_key(session: AsyncSession) -> SQLColumnExpression[str]:
    """Camera.uid compared by code point: SQLite's BINARY, PostgreSQL's "C" collation."""
    if session.get_bind().dialect.name == "postgresql":
        return Camera.uid.collate("C")
    return Camera.uid


async def list_cameras(
    session: AsyncSession, f: CameraFilter, *, limit: int, cursor: str | None = None
) -> CameraPage:
    """The page of cameras matching `f` after `cursor`; see the module doc for the rules.

    Raises `InvalidCursor` for a cursor this ordering did not hand out.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if f.near is not None:
        return await _list_near(session, f, limit=limit, cursor=cursor)
    after = None if cursor is None else str(decode_cursor(cursor, "uid", (str,))[0])
    key = _uid_key(session)
    check = _python_check(f)
    batch = limit + 1 if check is None else max(4 * (limit + 1), _MIN_BATCH)
    base = _rows_select().where(*_sql_conditions(f)).order_by(key).limit(batch)
    found: list[CameraRow] = []
    while len(found) <= limit:
        stmt = base if after is None else base.where(key > after)
        rows = (await session.execute(stmt)).all()
        found.extend(r for r in map(_row, rows) if check is None or check(r.camera))
        if len(rows) < batch:
            break
        after = rows[-1][0].uid
    if len(found) > limit:
        return CameraPage(found[:limit], encode_cursor("uid", found[limit - 1].camera.uid))
    return CameraPage(found, None)


async def _list_near(
    session: AsyncSession, f: CameraFilter, *, limit: int, cursor: str | None
) -> CameraPage:
    """Every candidate in the circle's box, measured, sorted by (distance, uid), sliced."""
    after: tuple[float, str] | None = None
    if cursor is not None:
        d, uid = decode_cursor(cursor, "near", (float, str))
        after = (float(d), str(uid))
    # The distance is both the filter and the sort key: measure once, here.
    others = _python_check(replace(f, near=None, radius_m=None))
    lon, lat = _near_center(f)
    radius = f.radius_m or 0.0
    rows = (await session.execute(_rows_select().where(*_sql_conditions(f)))).all()
    measured: list[tuple[float, str, Any]] = []
    for row in rows:
        camera: Camera = row[0]
        if camera.lon is None or camera.lat is None:
            continue
        if others is not None and not others(camera):
            continue
        distance = haversine_m(lon, lat, camera.lon, camera.lat)
        if distance <= radius:
            measured.append((distance, camera.uid, row))
    measured.sort(key=lambda m: (m[0], m[1]))
    if after is not None:
        measured = [m for m in measured if (m[0], m[1]) > after]
    items = [_row(m[2], m[0]) for m in measured[:limit]]
    if len(measured) > limit:
        last = measured[limit - 1]
        return CameraPage(items, encode_cursor("near", last[0], last[1]))
    return CameraPage(items, None)


async def camera_uid_condition(
    session: AsyncSession, f: CameraFilter, column: SQLColumnExpression[str]
) -> ColumnElement[bool]:
    """A condition that `column` holds the uid of a camera matching `f`.

    When SQL decides `f` exactly this is a subquery; otherwise the matching
    uids are found first (a few thousand at most) and listed.
    """
    conds = _sql_conditions(f)
    check = _python_check(f)
    if check is None:
        return column.in_(select(Camera.uid).where(*conds))
    cameras = await session.scalars(select(Camera).where(*conds))
    uids = [c.uid for c in cameras if check(c)]
    return column.in_(uids) if uids else false()


async def get_camera(session: AsyncSession, uid: str) -> CameraRow | None:
    """One camera with its cell, whatever its status; None when there is no such uid."""
    row = (await session.execute(_rows_select().where(Camera.uid == uid))).first()
    return None if row is None else _row(row)
