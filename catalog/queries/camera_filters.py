"""What a camera search asks for (`CameraFilter`), as SQL conditions, a Python check, and drivers.

A filter becomes three things:

- `sql_conditions`: what SQL decides exactly, plus the spatial prefilters
  (boxes that provably hold every match);
- `python_check`: the part SQL only prefilters (a `bbox` in another CRS,
  the circle of `near`), decided in Python on the stored WGS-84 location;
- drivers (`catalog.queries.camera_drivers`): the filters an index can list
  candidates for, so the search can start from the smallest one.

The rules (DESIGN.md, "Details that clients rely on"): retired cameras are
left out unless `statuses` asks for `retired`; `bbox` bounds are inclusive;
`near` keeps cameras within `radius_m` great-circle metres; a camera without
a location is found by every filter but the spatial ones; `q` is a literal
substring of the name or address, case-insensitive for Latin letters; a
camera matches `tags` when any asked tag is among its tags.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    String,
    any_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from catalog.crs import CRS_NAMES, EARTH_RADIUS_M, from_wgs84, haversine_m, out_of_china, to_wgs84
from catalog.models import Camera, GridCell
from catalog.queries.search_schema import camera_tags
from catalog.queries.text import text_condition, text_form, text_params

__all__ = [
    "BBOX_PARAMS",
    "CRS_MARGIN_DEG",
    "CRS_SLACK_DEG",
    "CRS_SLOPE",
    "NEAR_PARAMS",
    "BBox",
    "CameraFilter",
    "FilterForm",
    "bbox_box",
    "bbox_prefilter",
    "circle_box",
    "communities_condition",
    "filter_form",
    "in_box",
    "in_values",
    "near_box",
    "near_center",
    "one_of",
    "python_check",
    "sql_conditions",
    "unindexed",
    "wgs84_prefilter",
]

#: How far (degrees, per axis) a GCJ-02 or BD-09 position may lie from its WGS-84
#: position. A camera at WGS-84 p shows at p + offset(p) in the other system, so if
#: that lies in a box, p lies in the box widened by the largest |offset|. Measured
#: offsets stay under 0.017° (BD-09, anywhere); the margin only widens a prefilter.
CRS_MARGIN_DEG: Final = 0.03
# Widening of the `near` box against rounding in its own arithmetic (about 1 cm).
_ROUNDING_DEG: Final = 1e-7
#: How fast the GCJ-02 and BD-09 offsets change with position, at most: between
#: two points of the region where they apply, |Δoffset| <= slope * |Δp| + slack
#: (per axis, in degrees). Measured slopes stay under 0.025 (BD-09; GCJ-02 under
#: 0.006); the slack covers the square-root term at 105°E and rounding.
CRS_SLOPE: Final = 0.1
CRS_SLACK_DEG: Final = 1e-5
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
class FilterForm(CameraFilter):
    """A filter as its statements see it: what every box, circle or text of one form shares.

    Its `bbox` and `near` only say whether one is asked, and its `q` (on
    SQLite) is the stand-in of `q`'s kind of text (`text_form`). The
    conditions and drivers of a form bound a camera's location by
    parameters instead of numbers: `BBOX_PARAMS` for the WGS-84 box that
    holds `bbox` (`bbox_prefilter`), `NEAR_PARAMS` for the box that holds
    the circle (`near_box`); its text statements bind `q` by name as they
    always do (`text_params`). `filter_form` gives the values of all of
    them. A form never equals a plain filter, so each has its own statements.
    """


BBOX_PARAMS: Final = ("bbox_x0", "bbox_y0", "bbox_x1", "bbox_y1")
NEAR_PARAMS: Final = ("near_x0", "near_y0", "near_x1", "near_y1")


def filter_form(f: CameraFilter, dialect: str) -> tuple[CameraFilter, dict[str, Any]]:
    """`f`'s form on `dialect` (`FilterForm`), and the values of its parameters by name.

    A map asks for a box nobody asked for before at every move, and an
    operator types texts nobody typed before. Building the statements of each
    new box cost a search five times what running them does (2.7 ms against
    0.55 in process); those of a form are built once and serve every box.
    A filter with nothing to stand for is its own form.
    """
    values = {field.name: getattr(f, field.name) for field in fields(f)}
    params: dict[str, Any] = {}
    box = bbox_prefilter(f)
    if box is not None:
        params.update(zip(BBOX_PARAMS, box, strict=True))
        values.update(bbox=(0.0, 0.0, 0.0, 0.0), crs="wgs84")
    if f.near is not None:
        assert f.radius_m is not None
        params.update(zip(NEAR_PARAMS, near_box(*near_center(f), f.radius_m), strict=True))
        values.update(near=(0.0, 0.0), radius_m=0.0, crs="wgs84")
    stand_in = None if f.q is None else text_form(dialect, f.q)
    if f.q is not None and stand_in is not None:
        params.update(text_params(dialect, f.q))
        values.update(q=stand_in)
    if not params:
        return f, params
    return FilterForm(**values), params


def bbox_box(f: CameraFilter) -> BBox | Sequence[Any] | None:
    """The WGS-84 box that holds `f.bbox` (in any CRS): numbers, or a form's parameters."""
    if f.bbox is None:
        return None
    if isinstance(f, FilterForm):
        return [bindparam(name, type_=Float) for name in BBOX_PARAMS]
    return wgs84_prefilter(f.crs, f.bbox)


def circle_box(f: CameraFilter) -> BBox | Sequence[Any] | None:
    """The WGS-84 box that holds `f`'s circle: numbers, or a form's parameters."""
    if f.near is None:
        return None
    if isinstance(f, FilterForm):
        return [bindparam(name, type_=Float) for name in NEAR_PARAMS]
    assert f.radius_m is not None
    return near_box(*near_center(f), f.radius_m)


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


def near_center(f: CameraFilter) -> tuple[float, float]:
    """The WGS-84 centre of `f.near`."""
    assert f.near is not None
    return to_wgs84(f.crs, f.near[0], f.near[1])


_PLUS: Final[custom_op[Any]] = custom_op("+")


def unindexed(column: Any) -> Any:
    """`+column`: SQLite's no-op that keeps an index on `column` from serving a term.

    SQLite only (PostgreSQL has no unary plus for text); SQLite's planner
    has no statistics of value ranges, so the search chooses its indexes
    itself and writes the other terms this way.
    """
    return UnaryExpression(column, operator=_PLUS, type_=column.type)


def in_values(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """`column IN (values)`, one parameter per value, written when the statement is built.

    A plain `in_()` leaves the list to be rendered at every execution (an
    "expanding" parameter), and such a statement's SQL is never the same
    twice: `catalog.queries.reader` cannot run it straight on sqlite3. The
    statements of a filter are built once for its values anyway.
    """
    if len(values) == 1:
        return column == values[0]  # type: ignore[no-any-return]
    return column.in_([literal(value, column.type) for value in values])  # type: ignore[no-any-return]


def one_of(dialect: str, column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """`column IN values`, with the values bound as one parameter however many there are.

    A plain `in_()` renders one parameter per value on every execution, which
    for the thousands of candidates a search may hold costs more than the
    query itself: PostgreSQL gets `= ANY(array)`, SQLite a subquery of
    `json_each` over one JSON text (it builds a temporary index of it).
    """
    return _one_of(dialect, column, bindparam(None, bound_values(dialect, values), unique=True))


def one_of_bound(dialect: str, column: Any, name: str) -> ColumnElement[bool]:
    """`one_of` with the values left to parameter `name`, given at execution as
    `bound_values(dialect, values)`: a statement to build once and run with any list."""
    return _one_of(dialect, column, bindparam(name))


def bound_values(dialect: str, values: Sequence[str]) -> Any:
    """A list of values as `one_of_bound` takes it on `dialect`."""
    return json.dumps(list(values)) if dialect == "sqlite" else list(values)


def _one_of(dialect: str, column: Any, values: BindParameter[Any]) -> ColumnElement[bool]:
    if dialect == "sqlite":
        each = func.json_each(type_coerce(values, String))
        return column.in_(select(literal_column("value", String)).select_from(each))  # type: ignore[no-any-return]
    return column == any_(type_coerce(values, ARRAY(String)))  # type: ignore[no-any-return]


def _plain(column: Any, index_free: bool) -> Any:
    return unindexed(column) if index_free else column


def in_box(box: BBox | Sequence[Any], *, index_free: bool = False) -> list[ColumnElement[bool]]:
    """The camera's stored location lies in `box` (bounds inclusive; numbers or parameters)."""
    lon, lat = _plain(Camera.lon, index_free), _plain(Camera.lat, index_free)
    return [lon.between(box[0], box[2]), lat.between(box[1], box[3])]


def wgs84_prefilter(crs: str, bbox: BBox) -> BBox:
    """A WGS-84 box holding every point whose `crs` position lies in `bbox`.

    A point p shows at f(p) = p + o(p). Take r, the WGS-84 point of the box's
    centre c. Where the offset o changes by at most `CRS_SLOPE` * |Δp| +
    `CRS_SLACK_DEG` (inside the region where it applies), f(p) in the box
    gives |p - r| <= (h + e + slack) / (1 - slope), h the box's half size and
    e = |c - f(r)|, so o(p) is within d of o(r), d = slope * that + slack, and
    p lies in the box moved by -o(r) and widened by d. Near the edge of that
    region the offset jumps; there, and for any other CRS, the box is widened
    by the largest offset, `CRS_MARGIN_DEG`.
    """
    if crs == "wgs84":
        return bbox
    x0, y0, x1, y1 = bbox
    m = CRS_MARGIN_DEG
    wide = (x0 - m, y0 - m, x1 + m, y1 + m)
    if any(out_of_china(x, y) for x in (wide[0], wide[2]) for y in (wide[1], wide[3])):
        return wide
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = to_wgs84(crs, cx, cy)
    fx, fy = from_wgs84(crs, rx, ry)
    ox, oy = fx - rx, fy - ry
    reach = max(x1 - x0, y1 - y0) / 2 + max(abs(fx - cx), abs(fy - cy)) + CRS_SLACK_DEG
    d = CRS_SLOPE * reach / (1 - CRS_SLOPE) + CRS_SLACK_DEG
    return (
        max(x0 - ox - d, wide[0]),
        max(y0 - oy - d, wide[1]),
        min(x1 - ox + d, wide[2]),
        min(y1 - oy + d, wide[3]),
    )


def bbox_prefilter(f: CameraFilter) -> BBox | None:
    """The WGS-84 box that holds every camera in `f.bbox` (in any CRS), if a bbox is asked."""
    return None if f.bbox is None else wgs84_prefilter(f.crs, f.bbox)


def communities_condition(f: CameraFilter) -> ColumnElement[bool]:
    """The cameras whose grid cell lies in one of the asked communities."""
    cells = select(GridCell.grid_id).where(in_values(GridCell.community, f.communities))
    return Camera.grid_id.in_(cells)


def _tags(f: CameraFilter) -> ColumnElement[bool]:
    return exists().where(camera_tags.c.uid == Camera.uid, in_values(camera_tags.c.tag, f.tags))


#: distinct filters whose conditions and drivers are kept built
FILTERS_KEPT: Final = 512


def sql_conditions(
    f: CameraFilter, dialect: str, *, spatial: bool = True, index_free: bool = False
) -> list[ColumnElement[bool]]:
    """The conditions SQL decides exactly, plus the spatial prefilters (unless `spatial=False`).

    With `index_free` (SQLite only) the camera's own columns are written
    `+column`, so the planner walks the index the caller chose instead of
    starting from one of them. A new list each call (of shared expressions).
    """
    return list(built_conditions(f, dialect, spatial, index_free))


@lru_cache(maxsize=FILTERS_KEPT)
def built_conditions(
    f: CameraFilter, dialect: str, spatial: bool, index_free: bool
) -> tuple[ColumnElement[bool], ...]:
    """`sql_conditions`, built once per distinct filter and kept."""

    def col(column: Any) -> Any:
        return _plain(column, index_free)

    conds: list[ColumnElement[bool]] = []
    if f.statuses:
        conds.append(in_values(col(Camera.status), f.statuses))
    else:
        conds.append(col(Camera.status) != "retired")
    if f.departments:
        conds.append(in_values(col(Camera.department_id), f.departments))
    if f.kinds:
        conds.append(in_values(col(Camera.kind), f.kinds))
    if f.grid_ids:
        conds.append(in_values(col(Camera.grid_id), f.grid_ids))
    if f.communities:
        conds.append(communities_condition(f))
    if f.tags:
        conds.append(_tags(f))
    if f.q:
        conds.append(text_condition(f.q, dialect))
    for box in (bbox_box(f), circle_box(f)) if spatial else ():
        if box is not None:
            conds.extend(in_box(box, index_free=index_free))
    return tuple(conds)


LocationCheck = Callable[[float | None, float | None], bool]


def python_check(f: CameraFilter, *, near: bool = True) -> LocationCheck | None:
    """The part of `f` SQL only prefilters, as a predicate on (lon, lat); None when SQL is exact.

    With `near=False` the circle is left out (the caller measures distances itself).
    """
    checks: list[LocationCheck] = []
    if f.bbox is not None and f.crs != "wgs84":
        crs, (x0, y0, x1, y1) = f.crs, f.bbox

        def in_crs_box(lon: float | None, lat: float | None) -> bool:
            if lon is None or lat is None:
                return False
            x, y = from_wgs84(crs, lon, lat)
            return x0 <= x <= x1 and y0 <= y <= y1

        checks.append(in_crs_box)
    if near and f.near is not None:
        (clon, clat), radius = near_center(f), f.radius_m or 0.0

        def in_circle(lon: float | None, lat: float | None) -> bool:
            return (
                lon is not None and lat is not None and haversine_m(clon, clat, lon, lat) <= radius
            )

        checks.append(in_circle)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda lon, lat: all(check(lon, lat) for check in checks)
