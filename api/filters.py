"""The parameters routes share, and turning them into catalog filters.

Camera filters (`/cameras`, `/wall`) and area filters (`/snapshots`) are
declared here once, so every route that takes them validates and documents
them the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from api.params import (
    MAX_LIMIT,
    Args,
    Param,
    bbox,
    choice,
    choices,
    integer,
    point,
    positive_number,
    rfc3339,
    strings,
    text,
)
from api.problems import Problem, invalid_params
from catalog.crs import CRS_NAMES
from catalog.models import CAMERA_STATUSES
from catalog.queries import InvalidCursor
from catalog.queries.cameras import CameraFilter

__all__ = [
    "AREA_FILTERS",
    "CAMERA_FILTERS",
    "CRS",
    "CURSOR",
    "LIMIT",
    "SINCE",
    "SIZE",
    "UNTIL",
    "bad_cursor",
    "camera_filter",
    "time_window",
]

_LIST = "; a comma-separated list means any of them"
_STRING: Final = {"type": "string"}

CRS = Param(
    "crs",
    "The coordinate system of the answer's locations and of `bbox`/`near` in the query.",
    choice(CRS_NAMES),
    {"type": "string", "enum": list(CRS_NAMES)},
    default="wgs84",
)
BBOX = Param(
    "bbox",
    "minLon,minLat,maxLon,maxLat; bounds are inclusive. Cameras without a location never match.",
    bbox,
    {"type": "string", "pattern": r"^[^,]+,[^,]+,[^,]+,[^,]+$"},
    example="113.10,27.80,113.20,27.90",
)
NEAR = Param(
    "near",
    "lon,lat: cameras within `radius` great-circle metres, sorted by distance then uid,"
    " each with `distance_m`. Needs `radius`.",
    point,
    {"type": "string", "pattern": r"^[^,]+,[^,]+$"},
    example="113.1523,27.8301",
)
RADIUS = Param(
    "radius",
    "Metres around `near` (on a sphere of 6,371,008.8 m); only with `near`.",
    positive_number,
    {"type": "number", "exclusiveMinimum": 0},
)
GRID = Param("grid", "Grid cell ids" + _LIST, strings(), _STRING)
COMMUNITY = Param("community", "Communities of the cameras' cells" + _LIST, strings(), _STRING)
DEPARTMENT = Param("department", "Department ids" + _LIST, strings(), _STRING)
STATUS = Param(
    "status",
    "Camera statuses" + _LIST + ". Retired cameras are left out unless asked for.",
    strings(CAMERA_STATUSES),
    choices(CAMERA_STATUSES),
)
KIND = Param("kind", "Snapshot kinds (http, rtsp, onvif, file, …)" + _LIST, strings(), _STRING)
TAG = Param("tag", "Tags; a camera matches when it has any of them" + _LIST, strings(), _STRING)
Q = Param(
    "q",
    "Text in the name or address: a substring of any length, case-insensitive for Latin"
    " letters, `%` and `_` literal. Empty means no text filter.",
    text(200, allow_empty=True),
    _STRING,
)
LIMIT = Param(
    "limit",
    f"Items per page, 1 to {MAX_LIMIT}.",
    integer(1, MAX_LIMIT),
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    default=100,
)
CURSOR = Param(
    "cursor",
    "The `next_cursor` of the previous page (opaque).",
    text(1000),
    _STRING,
)
SINCE = Param(
    "since",
    "RFC 3339 time with an offset; inclusive.",
    rfc3339,
    {"type": "string", "format": "date-time"},
    example="2024-05-01T00:00:00Z",
)
UNTIL = Param(
    "until",
    "RFC 3339 time with an offset; exclusive.",
    rfc3339,
    {"type": "string", "format": "date-time"},
    example="2024-05-02T00:00:00+08:00",
)
SIZE = Param(
    "size",
    "`thumb` for the thumbnail; `full` (the default) for the stored image.",
    choice(("full", "thumb")),
    {"type": "string", "enum": ["full", "thumb"]},
    default="full",
)

CAMERA_FILTERS: Final = (BBOX, NEAR, RADIUS, GRID, COMMUNITY, DEPARTMENT, STATUS, KIND, TAG, Q, CRS)
AREA_FILTERS: Final = (BBOX, NEAR, RADIUS, GRID, CRS)


def camera_filter(args: Args, *, every_status: bool = False) -> CameraFilter:
    """The `CameraFilter` of a request's camera parameters (absent ones restrict nothing).

    With `every_status` and no `status` parameter, retired cameras count too
    (history queries: what a camera saw before it was retired).
    """
    near, radius = args.point("near"), args.number("radius")
    if near is not None and radius is None:
        raise invalid_params(("radius", "required with near"))
    if radius is not None and near is None:
        raise invalid_params(("radius", "only meaningful with near"))
    statuses = args.strings("status")
    if every_status and not statuses:
        statuses = CAMERA_STATUSES
    return CameraFilter(
        bbox=args.bbox("bbox"),
        near=near,
        radius_m=radius,
        grid_ids=args.strings("grid"),
        communities=args.strings("community"),
        departments=args.strings("department"),
        statuses=statuses,
        kinds=args.strings("kind"),
        tags=args.strings("tag"),
        q=args.string("q"),
        crs=args.string("crs") or "wgs84",
    )


def time_window(args: Args) -> tuple[datetime | None, datetime | None]:
    """`since` and `until`; `until` may not come before `since`."""
    since, until = args.time("since"), args.time("until")
    if since is not None and until is not None and until < since:
        raise invalid_params(("until", "must not be before since"))
    return since, until


def bad_cursor(exc: InvalidCursor) -> Problem:
    """The 400 for a cursor the list did not hand out."""
    return invalid_params(("cursor", str(exc)))
