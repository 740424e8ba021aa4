"""Camera routes: search, one camera, its snapshots and status history, the wall of thumbnails."""

from __future__ import annotations

from typing import Any, Final, TypeVar

from aiohttp import web

from api.context import CATALOG
from api.filters import (
    CAMERA_FILTERS,
    CRS,
    CURSOR,
    LIMIT,
    SINCE,
    UNTIL,
    bad_cursor,
    camera_filter,
    time_window,
)
from api.params import CAMERA_UID_PATTERN, Args, Param, choice, matching
from api.problems import Problem
from api.routing import Answer, Route
from api.schemas import ref
from api.shapes import (
    camera_detail_json,
    camera_feature,
    camera_json,
    event_json,
    json_response,
    layers_json,
    rendered_feature,
    rendered_json,
    snapshot_json,
    thumb_url,
)
from catalog.queries import InvalidCursor
from catalog.queries.camera_rows import DETAIL, CameraPage, RowShape, rendered_shape, wall_shape
from catalog.queries.cameras import find_cameras, get_camera
from catalog.queries.events import list_status_events
from catalog.queries.reader import Reader
from catalog.queries.snapshots import latest_snapshot, list_snapshots

__all__ = ["LAYERS", "ROUTES", "UID"]

UID: Final = Param(
    "uid",
    "The camera's global id, DEPARTMENT:ID.",
    matching(
        CAMERA_UID_PATTERN,
        "expected DEPARTMENT:ID (1 to 32 of a-z 0-9 _, a colon, 1 to 64 of A-Z a-z 0-9 _ -)",
    ),
    {"type": "string", "pattern": CAMERA_UID_PATTERN},
    location="path",
    example="chengguan:43020300001320000001",
)
LAYERS: Final = Param(
    "layers",
    "`1` adds `source` (what the camera's source reported) and `override` (an operator's"
    " overrides) to each camera.",
    choice(("0", "1")),
    {"type": "string", "enum": ["0", "1"]},
    default="0",
)
FORMAT: Final = Param(
    "format",
    "`geojson` for a FeatureCollection (with `next_cursor`) instead of a list.",
    choice(("json", "geojson")),
    {"type": "string", "enum": ["json", "geojson"]},
    default="json",
)
GEOJSON: Final = "application/geo+json"

T = TypeVar("T")


async def _camera_page(session: Reader, args: Args, shape: RowShape[T]) -> CameraPage[T]:
    f = camera_filter(args)
    try:
        return await find_cameras(
            session, f, shape, limit=args.integer("limit"), cursor=args.string("cursor")
        )
    except InvalidCursor as exc:
        raise bad_cursor(exc) from None


async def search_cameras(request: web.Request, args: Args) -> web.StreamResponse:
    """Cameras matching every filter given, by uid (or by distance with `near`)."""
    crs = args.string("crs") or "wgs84"
    geojson = args.string("format") == "geojson"
    items: list[Any]
    catalog = request.app[CATALOG]
    if args.string("layers") == "1":
        # Only `layers=1` shows the source layers, which need the whole ORM row.
        async with catalog.sessions() as session:
            rows = await _camera_page(session, args, DETAIL)
        next_cursor = rows.next_cursor
        if geojson:
            items = [camera_feature(row, crs) for row in rows.items]
            for feature, row in zip(items, rows.items, strict=True):
                feature["properties"] |= layers_json(row.camera)
        else:
            items = [camera_json(row, crs) | layers_json(row.camera) for row in rows.items]
    else:
        # The list shape comes written by the database (see `rendered_shape`), read
        # through a plain connection (`catalog.queries.reader`).
        async with catalog.engine.connect() as conn:
            rendered = await _camera_page(conn, args, rendered_shape(catalog.engine.dialect))
        next_cursor = rendered.next_cursor
        make = rendered_feature if geojson else rendered_json
        items = [make(item, crs) for item in rendered.items]
    if geojson:
        collection = {"type": "FeatureCollection", "features": items, "next_cursor": next_cursor}
        return json_response(collection, content_type=GEOJSON)
    return json_response({"items": items, "next_cursor": next_cursor})


async def show_camera(request: web.Request, args: Args) -> web.StreamResponse:
    """One camera (retired ones too), its cell and its newest snapshot."""
    uid = args.string("uid")
    assert uid is not None
    async with request.app[CATALOG].sessions() as session:
        row = await get_camera(session, uid)
        if row is None:
            raise Problem(404, f"no camera {uid!r}")
        last = await latest_snapshot(session, uid)
    answer = camera_detail_json(row, last, args.string("crs") or "wgs84")
    if args.string("layers") == "1":
        answer |= layers_json(row.camera)
    return json_response(answer)


async def camera_snapshots(request: web.Request, args: Args) -> web.StreamResponse:
    """One camera's snapshots, newest first, within [since, until)."""
    since, until = time_window(args)
    uid = args.string("uid")
    assert uid is not None
    async with request.app[CATALOG].sessions() as session:
        if await get_camera(session, uid) is None:
            raise Problem(404, f"no camera {uid!r}")
        try:
            page = await list_snapshots(
                session,
                camera_uid=uid,
                since=since,
                until=until,
                limit=args.integer("limit"),
                cursor=args.string("cursor"),
            )
        except InvalidCursor as exc:
            raise bad_cursor(exc) from None
    items = [snapshot_json(s) for s in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


async def camera_events(request: web.Request, args: Args) -> web.StreamResponse:
    """One camera's status history, newest first, within [since, until)."""
    since, until = time_window(args)
    uid = args.string("uid")
    assert uid is not None
    async with request.app[CATALOG].sessions() as session:
        if await get_camera(session, uid) is None:
            raise Problem(404, f"no camera {uid!r}")
        try:
            page = await list_status_events(
                session,
                uid,
                since=since,
                until=until,
                limit=args.integer("limit"),
                cursor=args.string("cursor"),
            )
        except InvalidCursor as exc:
            raise bad_cursor(exc) from None
    items = [event_json(event) for event in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


async def wall(request: web.Request, args: Args) -> web.StreamResponse:
    """The newest thumbnail of each camera matching the filters (null when it has none)."""
    catalog = request.app[CATALOG]
    async with catalog.engine.connect() as conn:
        page = await _camera_page(conn, args, wall_shape(catalog.engine.dialect))
    items = [
        {
            "camera_uid": tile.uid,
            "name": tile.name,
            "status": tile.status,
            "snapshot_id": tile.snapshot_id,
            "captured_at": tile.captured_at,
            "thumb_url": None if tile.snapshot_id is None else thumb_url(tile.snapshot_id),
        }
        for tile in page.items
    ]
    return json_response({"items": items, "next_cursor": page.next_cursor})


ROUTES: Final = (
    Route(
        "GET",
        "/api/v1/cameras",
        search_cameras,
        "Search cameras",
        params=(*CAMERA_FILTERS, LIMIT, CURSOR, FORMAT, LAYERS),
        answers={
            200: Answer(
                "A page of cameras (a FeatureCollection with format=geojson)",
                ref("CameraPage"),
                also={GEOJSON: ref("CameraFeatureCollection")},
            )
        },
        description="Filters combine with AND; a comma list within one filter means any of"
        " them. Ordered by uid, or by distance then uid with `near`. With"
        " `format=geojson` the answer is a FeatureCollection of Points"
        f" ({GEOJSON}), `next_cursor` included.",
        tag="cameras",
    ),
    Route(
        "GET",
        "/api/v1/cameras/{uid}",
        show_camera,
        "One camera, its cell and its newest snapshot",
        params=(UID, CRS, LAYERS),
        answers={200: Answer("The camera", ref("CameraDetail"))},
        problems=(404, 503),
        tag="cameras",
    ),
    Route(
        "GET",
        "/api/v1/cameras/{uid}/events",
        camera_events,
        "One camera's status history, newest first",
        params=(UID, SINCE, UNTIL, LIMIT, CURSOR),
        answers={200: Answer("A page of status changes", ref("EventPage"))},
        description="Every change of the camera's status or its reason: polls, syncs"
        " (added, updated, retired) and overrides.",
        problems=(404, 503),
        tag="cameras",
    ),
    Route(
        "GET",
        "/api/v1/cameras/{uid}/snapshots",
        camera_snapshots,
        "One camera's snapshots, newest first",
        params=(UID, SINCE, UNTIL, LIMIT, CURSOR),
        answers={200: Answer("A page of snapshots", ref("SnapshotPage"))},
        problems=(404, 503),
        tag="snapshots",
    ),
    Route(
        "GET",
        "/api/v1/wall",
        wall,
        "The newest thumbnail of each camera matching the camera filters",
        params=(*CAMERA_FILTERS, LIMIT, CURSOR),
        answers={200: Answer("A page of wall tiles, in the order of /cameras", ref("WallPage"))},
        tag="cameras",
    ),
)
