"""Rows and helpers the catalog query tests share: builders, paging, the small catalogs.

`small_catalog` is a hand-made catalog for the exact rules, and
`snapshot_catalog` adds snapshots to it; `test_queries`,
`test_snapshot_queries`, `test_catalog_reads`, `test_search`, `api_env` and
`test_roles` build on them. Not a test module.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.db import Catalog
from catalog.models import Camera, Department, GridCell, Snapshot
from catalog.queries.cameras import CameraFilter, CameraRow, list_cameras

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CENTER = (113.15, 27.83)  # Zhuzhou


def make_department(dept_id: str, name: str = "") -> Department:
    """A department row."""
    return Department(id=dept_id, name=name or dept_id, source_file="", updated_at=T0)


def make_cell(
    grid_id: str, community: str, box: tuple[float, float, float, float], name: str = ""
) -> GridCell:
    """A rectangular grid cell."""
    x0, y0, x1, y1 = box
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return GridCell(
        grid_id=grid_id,
        name=name or f"网格{grid_id}",
        community=community,
        street="建设街道",
        geometry={"type": "Polygon", "coordinates": [ring]},
        min_lon=x0,
        min_lat=y0,
        max_lon=x1,
        max_lat=y1,
    )


def make_camera(
    department: str,
    camera_id: str,
    *,
    name: str = "camera",
    address: str = "",
    lon: float | None = None,
    lat: float | None = None,
    grid_id: str | None = None,
    kind: str = "http",
    tags: Sequence[str] = (),
    status: str = "online",
) -> Camera:
    """A camera row with everything else at harmless defaults."""
    return Camera(
        uid=f"{department}:{camera_id}",
        department_id=department,
        camera_id=camera_id,
        name=name,
        address=address,
        lon=lon,
        lat=lat,
        orig_crs="wgs84",
        orig_lon=lon,
        orig_lat=lat,
        grid_id=grid_id,
        grid_from_config=False,
        kind=kind,
        snapshot_target="http://admin:secret@192.0.2.1/snap.jpg",
        tags=list(tags),
        gb28181=None,
        source="config",
        interval_s=300.0,
        timeout_s=10.0,
        status=status,
        status_reason="",
        status_since=T0,
        last_snapshot_at=None,
        last_seen_at=None,
        next_due_at=T0,
        created_at=T0,
        updated_at=T0,
    )


def make_snapshot(
    camera_uid: str, captured_at: datetime, n: int, flags: Sequence[str] = ()
) -> Snapshot:
    """A snapshot row; `n` makes its keys unique."""
    sha = f"{n:064x}"
    return Snapshot(
        camera_uid=camera_uid,
        captured_at=captured_at,
        width=640,
        height=360,
        bytes=1000 + n,
        sha256=sha,
        phash=n,
        object_key=f"img/test/{n}.jpg",
        thumb_key=f"thumb/test/{n}.jpg",
        brightness=0.5,
        sharpness=100.0,
        flags=list(flags),
    )


async def add_all(catalog: Catalog, rows: Iterable[Any]) -> None:
    """Insert rows in one transaction; parents must come before children in `rows`."""
    async with catalog.sessions() as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


async def all_pages(catalog: Catalog, f: CameraFilter, limit: int) -> list[CameraRow]:
    """Every item of every page, following the cursors."""
    found: list[CameraRow] = []
    cursor: str | None = None
    async with catalog.sessions() as session:
        for _ in range(10_000):
            page = await list_cameras(session, f, limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            assert len(page.items) == limit
            cursor = page.next_cursor
    raise AssertionError("paging did not end")


async def assert_pages_are(
    catalog: Catalog, f: CameraFilter, expected: list[tuple[str, float | None]], limit: int
) -> None:
    """Every page of `f`, followed by cursor, holds `expected`: (uid, distance) in order."""
    found = await all_pages(catalog, f, limit)
    assert [r.camera.uid for r in found] == [uid for uid, _ in expected], f
    for row, (_, distance) in zip(found, expected, strict=True):
        assert row.distance_m == distance


async def uids(catalog: Catalog, f: CameraFilter, limit: int = 1000) -> list[str]:
    """The uids the filter finds, in answer order, over all pages."""
    return [row.camera.uid for row in await all_pages(catalog, f, limit)]


# A small hand-made catalog for the exact rules.


def small_catalog() -> list[Any]:
    """Two departments, two cells in two communities, eight cameras."""
    return [
        make_department("chengguan", "城管局"),
        make_department("water", "水务局"),
        make_cell("G1", "东社区", (113.10, 27.80, 113.15, 27.85)),
        make_cell("G2", "西社区", (113.15, 27.80, 113.20, 27.85)),
        make_camera("chengguan", "a1", name="建设路与红旗路交叉口", address="芦淞区建设路",
                    lon=113.10, lat=27.80, grid_id="G1", tags=["crossroad"]),
        make_camera("chengguan", "a2", name="Hongqi Road EAST", address="红旗路 100%",
                    lon=113.12, lat=27.82, grid_id="G1", kind="rtsp", status="degraded"),
        make_camera("chengguan", "a3", name="under_score gate", address="a\\b path",
                    lon=113.16, lat=27.84, grid_id="G2", tags=["gate", "school"]),
        make_camera("water", "b1", name="水厂取水口", address="湘江",
                    lon=113.18, lat=27.85, grid_id="G2", status="offline"),
        make_camera("water", "b2", name="泵站 pump", address="", lon=None, lat=None,
                    tags=["pump"], status="unknown"),
        make_camera("water", "b3", name="旧泵站", address="已拆除",
                    lon=113.17, lat=27.83, grid_id="G2", status="retired"),
        make_camera("water", "B4", name="upper uid", address="",
                    lon=113.30, lat=27.90, kind="onvif"),
        make_camera("water", "b-5", name="dash uid", address="Percent%Sign",
                    lon=113.11, lat=27.81, grid_id="G1"),
    ]  # fmt: skip


# The small catalog with snapshots.


async def snapshot_catalog(catalog: Catalog) -> list[Snapshot]:
    """The small catalog plus snapshots: a1 has 5 (two at the same time), b3 (retired) has 1."""
    snaps = [
        make_snapshot("chengguan:a1", T0, 1),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=1), 2),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=1), 3),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=2, microseconds=1), 4),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=3), 5),
        make_snapshot("water:b3", T0 + timedelta(minutes=1), 6),
        make_snapshot("chengguan:a3", T0 + timedelta(minutes=4), 7, flags=["dark"]),
    ]
    await add_all(catalog, [*small_catalog(), *snaps])
    return snaps


def random_snapshots(rng: random.Random, cameras: Sequence[Camera]) -> list[Snapshot]:
    """0-6 snapshots per camera at a few shared instants (ties on time are common)."""
    instants = [
        T0 + timedelta(minutes=rng.randrange(600), microseconds=rng.choice([0, 1]))
        for _ in range(40)
    ]
    found = []
    n = 0
    for camera in cameras:
        for _ in range(rng.randrange(7)):
            n += 1
            found.append(make_snapshot(camera.uid, rng.choice(instants), n))
    return found
