"""Snapshot routes: what every camera in an area saw in a time window, and one snapshot."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from api.context import CATALOG
from api.filters import (
    AREA_FILTERS,
    CURSOR,
    LIMIT,
    SINCE,
    UNTIL,
    bad_cursor,
    camera_filter,
    time_window,
)
from api.params import Args, Param, integer
from api.problems import Problem
from api.routing import Answer, Route
from api.schemas import ref
from api.shapes import json_response, snapshot_json
from catalog.queries import InvalidCursor
from catalog.queries.snapshots import get_snapshot, list_snapshots

__all__ = ["ROUTES", "SNAPSHOT_ID", "snapshot_id"]

SNAPSHOT_ID: Final = Param(
    "id",
    "The snapshot's id.",
    integer(1, 2**63 - 1),
    {"type": "integer", "minimum": 1},
    location="path",
    pattern=r"\d+",
)


def snapshot_id(args: Args) -> int:
    """The `{id}` path parameter."""
    return args.integer("id")


async def search_snapshots(request: web.Request, args: Args) -> web.StreamResponse:
    """Snapshots of the cameras in an area (retired cameras included), newest first."""
    since, until = time_window(args)
    area = camera_filter(args, every_status=True)
    no_area = area.bbox is None and area.near is None and not area.grid_ids
    async with request.app[CATALOG].sessions() as session:
        try:
            page = await list_snapshots(
                session,
                area=None if no_area else area,
                since=since,
                until=until,
                limit=args.integer("limit"),
                cursor=args.string("cursor"),
            )
        except InvalidCursor as exc:
            raise bad_cursor(exc) from None
    items = [snapshot_json(s) for s in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


async def show_snapshot(request: web.Request, args: Args) -> web.StreamResponse:
    """One snapshot's metadata."""
    async with request.app[CATALOG].sessions() as session:
        snapshot = await get_snapshot(session, snapshot_id(args))
    if snapshot is None:
        raise Problem(404, f"no snapshot {snapshot_id(args)}")
    return json_response(snapshot_json(snapshot))


ROUTES: Final = (
    Route(
        "GET",
        "/api/v1/snapshots",
        search_snapshots,
        "What every camera in an area saw in a time window",
        params=(*AREA_FILTERS, SINCE, UNTIL, LIMIT, CURSOR),
        answers={200: Answer("A page of snapshots, newest first", ref("SnapshotPage"))},
        description="The area is any combination of `bbox`, `near` with `radius`, and"
        " `grid` (all must hold); none means every camera. Cameras retired since count:"
        " their history stays. `since` is inclusive, `until` exclusive.",
        tag="snapshots",
    ),
    Route(
        "GET",
        "/api/v1/snapshots/{id}",
        show_snapshot,
        "One snapshot",
        params=(SNAPSHOT_ID,),
        answers={200: Answer("The snapshot", ref("Snapshot"))},
        problems=(404, 503),
        tag="snapshots",
    ),
)
