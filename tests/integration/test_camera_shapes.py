"""Camera page shapes: the list shape the database writes, and wall tiles, against the ORM rows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text, update

from api.shapes import camera_feature, camera_json, rendered_feature, rendered_json, rfc3339
from catalog.crs import to_wgs84
from catalog.db import MIGRATIONS_DIR, Catalog, migrate, open_catalog
from catalog.models import CAMERA_STATUSES, Camera, GridCell, Snapshot
from catalog.queries.camera_rows import rendered_shape, wall_shape
from catalog.queries.cameras import CameraFilter, find_cameras, list_cameras
from tests.integration.brute_force import random_catalog
from tests.integration.catalog_rows import T0, add_all, random_snapshots


def varied_cameras(rng: random.Random, cameras: Sequence[Camera]) -> None:
    """Give the random cameras every value the rendering must write as Python does."""
    for i, camera in enumerate(cameras):
        # Times with and without microseconds, and in other zones than UTC.
        camera.status_since = T0 + timedelta(seconds=i, microseconds=rng.choice([0, 1, 123456]))
        if i % 3:
            zone = timezone(timedelta(hours=8))
            camera.last_snapshot_at = (T0 + timedelta(minutes=i)).astimezone(zone)
        camera.gb28181 = rng.choice([None, {"civil_code": "430203", "parental": i % 2 == 0}])
        camera.status_reason = rng.choice(["", 'timeout "10 s" \\ 断线\n'])
        if camera.lon is not None and i % 4 == 0:
            # A converted coordinate: more digits than SQLite's JSON writes.
            camera.lon, camera.lat = to_wgs84("gcj02", camera.lon, camera.lat)  # type: ignore[arg-type]
        if i % 7 == 0:
            camera.tags = []


async def test_rendered_cameras_equal_the_python_shape(catalog: Catalog) -> None:
    rng = random.Random(5)
    rows, cameras, _ = random_catalog(rng, 60)
    varied_cameras(rng, cameras)
    await add_all(catalog, rows)
    filters = [
        CameraFilter(),
        CameraFilter(q="路", statuses=tuple(CAMERA_STATUSES)),
        CameraFilter(near=(113.15, 27.84), radius_m=5000.0),
        CameraFilter(bbox=(113.10, 27.80, 113.16, 27.86)),
    ]
    shape = rendered_shape(catalog.engine.dialect)
    compared = 0
    async with catalog.sessions() as session:
        for f in filters:
            for crs in ("wgs84", "gcj02"):
                full = await list_cameras(session, f, limit=25)
                rendered = await find_cameras(session, f, shape, limit=25)
                assert rendered.next_cursor == full.next_cursor
                for row, item in zip(full.items, rendered.items, strict=True):
                    assert orjson.loads(orjson.dumps(rendered_json(item, crs))) == camera_json(
                        row, crs
                    )
                    assert orjson.loads(orjson.dumps(rendered_feature(item, crs))) == (
                        camera_feature(row, crs)
                    )
                    compared += 1
    assert compared > 100


async def _rendered_differences(catalog: Catalog) -> list[str]:
    """The uids of cameras whose list shape from the database differs from the ORM row's."""
    f = CameraFilter(statuses=tuple(CAMERA_STATUSES))
    async with catalog.sessions() as session:
        full = await list_cameras(session, f, limit=1000)
    async with catalog.engine.connect() as conn:
        rendered = await find_cameras(conn, f, rendered_shape(catalog.engine.dialect), limit=1000)
    assert [i.uid for i in rendered.items] == [r.camera.uid for r in full.items]
    return [
        row.camera.uid
        for row, item in zip(full.items, rendered.items, strict=True)
        if orjson.loads(orjson.dumps(rendered_json(item))) != camera_json(row)
    ]


async def test_the_list_shape_follows_every_change_of_a_camera_and_its_cell(
    catalog: Catalog,
) -> None:
    """SQLite reads the shape as triggers wrote it (migration 0008): each column it shows,
    changed by a statement or by the ORM, and a cell's community, read as the ORM row does."""
    rng = random.Random(7)
    rows, cameras, cells = random_catalog(rng, 30)
    varied_cameras(rng, cameras)
    await add_all(catalog, rows)
    assert await _rendered_differences(catalog) == []
    first, second = cameras[0].uid, cameras[1].uid
    moved = T0 + timedelta(days=3, microseconds=42)
    other_department = next(
        c.department_id for c in cameras if c.department_id != cameras[0].department_id
    )
    # One column at a time: a trigger that missed one would not be hidden by another.
    changes: list[dict[str, Any]] = [
        {"status": "offline" if cameras[0].status != "offline" else "online"},
        {"status_reason": "timeout 超时"},
        {"status_since": moved},
        {"last_snapshot_at": moved + timedelta(seconds=1)},
        {"last_snapshot_at": None},
        {"name": '新 "名字"'},
        {"address": "湘江路\\1号"},
        {"tags": ["学校", "gate"]},
        {"tags": None},
        {"gb28181": {"civil_code": "430203", "name": "路口"}},
        {"gb28181": None},
        {"grid_id": cells[-1].grid_id},
        {"grid_id": None},
        {"kind": "file" if cameras[0].kind != "file" else "http"},
        {"camera_id": "X-9"},
        {"department_id": other_department},
        {"uid": f"{other_department}:X-9"},
    ]
    for values in changes:
        async with catalog.sessions() as session, session.begin():
            await session.execute(update(Camera).where(Camera.uid == first).values(**values))
        assert await _rendered_differences(catalog) == [], values
    async with catalog.sessions() as session, session.begin():
        camera = await session.get(Camera, second)
        assert camera is not None
        camera.name = "由 ORM 改名"
    async with catalog.sessions() as session, session.begin():
        await session.execute(
            update(GridCell).where(GridCell.grid_id == cells[0].grid_id).values(community="新社区")
        )
    assert await _rendered_differences(catalog) == []
    if catalog.dialect == "sqlite":
        async with catalog.engine.connect() as conn:
            stored = await conn.scalar(
                text("SELECT listed_json FROM cameras WHERE uid = :u"), {"u": second}
            )
        assert orjson.loads(stored)["name"] == "由 ORM 改名"


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def test_migration_0008_writes_the_shape_of_the_cameras_already_stored(
    tmp_path: Path,
) -> None:
    """SQLite's `cameras.listed_json` is written for the cameras stored before it, and goes."""
    catalog = open_catalog(f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}")
    try:
        await migrate(catalog, "0007")
        rng = random.Random(8)
        rows, cameras, _ = random_catalog(rng, 30)
        varied_cameras(rng, cameras)
        await add_all(catalog, rows)
        await migrate(catalog)
        assert await _rendered_differences(catalog) == []
        async with catalog.engine.begin() as conn:
            await conn.run_sync(_downgrade, "0007")
        async with catalog.engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: inspect(sync).get_columns("cameras"))
        assert "listed_json" not in {c["name"] for c in columns}
        # The triggers went with it: cameras are written as before.
        async with catalog.sessions() as session, session.begin():
            await session.execute(update(Camera).values(status="offline"))
    finally:
        await catalog.close()


async def test_wall_tiles_read_the_newest_snapshot(catalog: Catalog) -> None:
    rng = random.Random(5)
    rows, cameras, _ = random_catalog(rng, 60)
    snaps = random_snapshots(rng, cameras)  # ties on time are common: the highest id wins
    await add_all(catalog, [*rows, *snaps])
    newest: dict[str, Snapshot] = {}
    for snap in snaps:
        best = newest.get(snap.camera_uid)
        if best is None or (snap.captured_at, snap.id) > (best.captured_at, best.id):
            newest[snap.camera_uid] = snap
    async with catalog.sessions() as session:
        full = await list_cameras(session, CameraFilter(), limit=1000)
        tiles = await find_cameras(
            session, CameraFilter(), wall_shape(catalog.engine.dialect), limit=1000
        )
    assert len(tiles.items) == len(full.items) > 40
    expected = []
    for row in full.items:
        latest = newest.get(row.camera.uid)
        expected.append(
            (
                row.camera.uid,
                row.camera.name,
                row.camera.status,
                None if latest is None else latest.id,
                None if latest is None else rfc3339(latest.captured_at),
            )
        )
    assert [tuple(tile) for tile in tiles.items] == expected
    assert sum(tile.snapshot_id is None for tile in tiles.items) > 3
    assert any(tile.captured_at and "." in tile.captured_at for tile in tiles.items)


async def test_json_columns_keep_chinese_as_itself(catalog: Catalog) -> None:
    """Stored and listed as UTF-8, not `\\uXXXX` escapes (six bytes a character)."""
    rows, cameras, _ = random_catalog(random.Random(6), 3)
    camera = cameras[0]
    camera.tags = ["学校", "路口"]
    camera.gb28181 = {"division_name": "湖南省株洲市芦淞区", "is_camera": True}
    await add_all(catalog, rows)
    async with catalog.engine.connect() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT CAST(tags AS TEXT), CAST(gb28181 AS TEXT) FROM cameras WHERE uid = :u"
                ),
                {"u": camera.uid},
            )
        ).one()
        assert tuple(stored) == (
            '["学校","路口"]',
            '{"division_name":"湖南省株洲市芦淞区","is_camera":true}',
        )
        f = CameraFilter(statuses=tuple(CAMERA_STATUSES))
        page = await find_cameras(conn, f, rendered_shape(catalog.engine.dialect), limit=10)
    (item,) = [i for i in page.items if i.uid == camera.uid]
    listed = orjson.dumps(rendered_json(item))
    assert orjson.loads(listed)["tags"] == ["学校", "路口"]
    assert '["学校","路口"]'.encode() in listed
    assert "湖南省株洲市芦淞区".encode() in listed
