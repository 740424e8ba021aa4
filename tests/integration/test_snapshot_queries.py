"""Snapshot queries on SQLite and PostgreSQL: order, time windows, areas, the latest ones.

Over `snapshot_catalog` (`tests.integration.catalog_rows`).
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

from catalog.db import Catalog
from catalog.models import CAMERA_STATUSES
from catalog.queries.camera_rows import wall_shape
from catalog.queries.cameras import CameraFilter, find_cameras
from catalog.queries.snapshots import (
    get_snapshot,
    latest_snapshot,
    list_snapshots,
)
from tests.integration.catalog_rows import T0, snapshot_catalog


async def snapshot_ids(catalog: Catalog, limit: int = 1000, **kwargs: Any) -> list[int]:
    """Snapshot ids over all pages, in answer order."""
    found: list[int] = []
    cursor: str | None = None
    async with catalog.sessions() as session:
        while True:
            page = await list_snapshots(session, limit=limit, cursor=cursor, **kwargs)
            found.extend(s.id for s in page.items)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


async def test_snapshots_newest_first_with_ties_by_id(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    expected = [by_n[n] for n in (5, 4, 3, 2, 1)]
    for limit in (1, 2, 3, 10):
        assert await snapshot_ids(catalog, limit, camera_uid="chengguan:a1") == expected


async def test_since_is_inclusive_and_until_exclusive(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    one = T0 + timedelta(minutes=1)
    window = await snapshot_ids(
        catalog, 1, camera_uid="chengguan:a1", since=one, until=T0 + timedelta(minutes=3)
    )
    assert window == [by_n[4], by_n[3], by_n[2]]
    # The same instants in another offset mean the same window.
    tz8 = timezone(timedelta(hours=8))
    assert window == await snapshot_ids(
        catalog,
        camera_uid="chengguan:a1",
        since=one.astimezone(tz8),
        until=(T0 + timedelta(minutes=3)).astimezone(tz8),
    )
    later = await snapshot_ids(catalog, camera_uid="chengguan:a1", since=one + timedelta(minutes=1))
    assert later == [by_n[5], by_n[4]]  # 4 is a microsecond after since
    assert await snapshot_ids(catalog, camera_uid="chengguan:a1", until=T0) == []
    assert await snapshot_ids(catalog, camera_uid="chengguan:a1", until=one) == [by_n[1]]


async def test_snapshots_by_area_include_retired_cameras_when_asked(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    every = tuple(CAMERA_STATUSES)
    g2 = CameraFilter(grid_ids=("G2",), statuses=every)
    assert await snapshot_ids(catalog, area=g2) == [by_n[7], by_n[6]]
    assert await snapshot_ids(catalog, area=CameraFilter(grid_ids=("G2",))) == [by_n[7]]
    box = CameraFilter(bbox=(113.09, 27.79, 113.11, 27.81), statuses=every)
    assert await snapshot_ids(catalog, area=box) == [by_n[n] for n in (5, 4, 3, 2, 1)]
    near = CameraFilter(near=(113.17, 27.83), radius_m=10.0, statuses=every)
    assert await snapshot_ids(catalog, area=near) == [by_n[6]]
    window = await snapshot_ids(
        catalog, area=g2, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=4)
    )
    assert window == [by_n[6]]
    nowhere = CameraFilter(near=(0.0, 0.0), radius_m=10.0, statuses=every)
    assert await snapshot_ids(catalog, area=nowhere) == []


async def test_newest_snapshots(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    async with catalog.sessions() as session:
        every = CameraFilter(statuses=tuple(CAMERA_STATUSES))
        tiles = await find_cameras(session, every, wall_shape(catalog.engine.dialect), limit=100)
        newest = {t.uid: t.snapshot_id for t in tiles.items if t.snapshot_id is not None}
        assert {uid: newest[uid] for uid in ("chengguan:a1", "chengguan:a3", "water:b3")} == {
            "chengguan:a1": by_n[5],
            "chengguan:a3": by_n[7],
            "water:b3": by_n[6],
        }
        assert "chengguan:a2" not in newest
        one = await latest_snapshot(session, "chengguan:a3")
        assert one is not None
        assert one.flags == ["dark"]
        assert await latest_snapshot(session, "chengguan:a2") is None
        got = await get_snapshot(session, by_n[2])
        assert got is not None
        assert got.captured_at == T0 + timedelta(minutes=1)
        assert await get_snapshot(session, 10**9) is None
