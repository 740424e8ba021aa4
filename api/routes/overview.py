"""Overview routes: grid cells, departments, counts, and the audit log (admin)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from api.context import CATALOG
from api.filters import CRS, CURSOR, LIMIT, SINCE, UNTIL, bad_cursor, time_window
from api.params import GRID_ID_PATTERN, Args, Param, matching, text
from api.problems import Problem
from api.routing import Answer, Route
from api.schemas import ref
from api.shapes import audit_json, geometry_in_crs, json_response, rfc3339
from catalog.inventories import inventory_summaries
from catalog.models import utcnow
from catalog.queries import InvalidCursor
from catalog.queries.audit import list_audit
from catalog.queries.stats import department_summaries, get_grid, grid_summaries, stats

__all__ = ["ROUTES"]

GRID_ID: Final = Param(
    "id",
    "The cell's grid_id.",
    matching(GRID_ID_PATTERN, "expected 1 to 64 of A-Z a-z 0-9 _ -"),
    {"type": "string", "pattern": GRID_ID_PATTERN},
    location="path",
)
PRINCIPAL: Final = Param("principal", "Only this token name's rows.", text(100), {"type": "string"})
CAMERA: Final = Param("camera", "Only rows about this camera uid.", text(100), {"type": "string"})
GEOJSON: Final = "application/geo+json"


def _in_crs(feature: dict[str, Any], crs: str) -> dict[str, Any]:
    return {**feature, "geometry": geometry_in_crs(feature["geometry"], crs)}


async def grids(request: web.Request, args: Args) -> web.StreamResponse:
    """Every grid cell as GeoJSON with camera counts by status (not paged)."""
    crs = args.string("crs") or "wgs84"
    async with request.app[CATALOG].sessions() as session:
        collection = await grid_summaries(session)
    collection["features"] = [_in_crs(f, crs) for f in collection["features"]]
    return json_response(collection, content_type=GEOJSON)


async def show_grid(request: web.Request, args: Args) -> web.StreamResponse:
    """One grid cell as a GeoJSON Feature with camera counts by status."""
    grid_id = args.string("id")
    assert grid_id is not None
    async with request.app[CATALOG].sessions() as session:
        feature = await get_grid(session, grid_id)
    if feature is None:
        raise Problem(404, f"no grid cell {grid_id!r}")
    return json_response(_in_crs(feature, args.string("crs") or "wgs84"), content_type=GEOJSON)


async def departments(request: web.Request, args: Args) -> web.StreamResponse:
    """Each department with its cameras by status and its inventories' last results."""
    async with request.app[CATALOG].sessions() as session:
        items = await department_summaries(session)
        inventories = await inventory_summaries(session)
    for item in items:
        item["inventories"] = [
            {
                "kind": run["kind"],
                "label": run["label"],
                "last_sync_at": rfc3339(run["last_sync_at"]),
                "count": run["count"],
                "error": run["error"],
            }
            for run in inventories.get(str(item["id"]), [])
        ]
    return json_response({"items": items})


async def show_stats(request: web.Request, args: Args) -> web.StreamResponse:
    """Counts of cameras by status, snapshots in total and in the last minute, departments."""
    async with request.app[CATALOG].sessions() as session:
        answer = await stats(session, utcnow())
    return json_response(answer)


async def audit_log(request: web.Request, args: Args) -> web.StreamResponse:
    """The audit log, newest first: who saw or did what, when, from where."""
    since, until = time_window(args)
    async with request.app[CATALOG].sessions() as session:
        try:
            page = await list_audit(
                session,
                principal=args.string("principal"),
                camera_uid=args.string("camera"),
                since=since,
                until=until,
                limit=args.integer("limit"),
                cursor=args.string("cursor"),
            )
        except InvalidCursor as exc:
            raise bad_cursor(exc) from None
    items = [audit_json(entry) for entry in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


ROUTES: Final = (
    Route(
        "GET",
        "/api/v1/grids",
        grids,
        "Grid cells with camera counts",
        params=(CRS,),
        answers={200: Answer("Every cell", ref("GridFeatureCollection"), media_type=GEOJSON)},
        tag="grids",
    ),
    Route(
        "GET",
        "/api/v1/grids/{id}",
        show_grid,
        "One grid cell with camera counts",
        params=(GRID_ID, CRS),
        answers={200: Answer("The cell", ref("GridFeature"), media_type=GEOJSON)},
        problems=(404, 503),
        tag="grids",
    ),
    Route(
        "GET",
        "/api/v1/departments",
        departments,
        "Departments with camera counts and inventory results",
        answers={200: Answer("Every department", ref("DepartmentList"))},
        tag="overview",
    ),
    Route(
        "GET",
        "/api/v1/stats",
        show_stats,
        "Counts by status and department; snapshot rates",
        answers={200: Answer("The counts", ref("Stats"))},
        tag="overview",
    ),
    Route(
        "GET",
        "/api/v1/audit",
        audit_log,
        "The audit log: images served, captures, overrides, token changes (admin)",
        params=(PRINCIPAL, CAMERA, SINCE, UNTIL, LIMIT, CURSOR),
        answers={200: Answer("A page of audit rows, newest first", ref("AuditPage"))},
        roles=frozenset({"admin"}),
        description="Every image or thumbnail served, capture asked, override made and"
        " token created or revoked (`cli:<os user>` for the command line; `target` names"
        " the token by its holder's name), with the client's address. `since` is"
        " inclusive, `until` exclusive. The log is read-only: no route changes it.",
        tag="overview",
    ),
)
