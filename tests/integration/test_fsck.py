"""`camgrid fsck`: dangling rows and orphan objects found and repaired, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.db import Catalog
from catalog.fsck import ORPHAN_GRACE, find_inconsistencies, key_time, repair
from catalog.models import Camera, Department, Snapshot
from catalog.store import LocalStore, ObjectStore, open_store, snapshot_key
from tests.fixtures.s3server import S3Server

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0fake\xff\xd9"


async def seed(catalog: Catalog, store: ObjectStore, now: datetime) -> dict[str, object]:
    """Three snapshots of one camera; the newest loses its image, plus two orphans."""
    async with catalog.sessions() as session, session.begin():
        session.add(Department(id="water", name="水利局", updated_at=now))
        await session.flush()
        session.add(
            Camera(
                uid="water:w1",
                department_id="water",
                camera_id="w1",
                name="泵站",
                kind="http",
                status="online",
                status_since=now,
                next_due_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        snaps = []
        for i in range(3):
            at = now - timedelta(hours=3 - i)
            sha = f"{i:02d}" * 32
            key = snapshot_key("img", "water", "w1", at, sha)
            thumb = snapshot_key("thumb", "water", "w1", at, sha)
            await store.put(key, JPEG)
            await store.put(thumb, JPEG)
            snap = Snapshot(
                camera_uid="water:w1",
                captured_at=at,
                width=4,
                height=3,
                bytes=9,
                sha256=sha,
                phash=i,
                object_key=key,
                thumb_key=thumb,
                brightness=1.0,
                sharpness=1.0,
                flags=[],
            )
            session.add(snap)
            snaps.append(snap)
        await session.flush()
        camera = await session.get(Camera, "water:w1")
        assert camera is not None
        camera.last_snapshot_id, camera.last_snapshot_at = snaps[2].id, snaps[2].captured_at
    await store.delete(snaps[2].object_key)
    old_orphan = snapshot_key("img", "water", "w1", now - timedelta(days=1), "ab" * 32)
    young_orphan = snapshot_key("img", "water", "w1", now - timedelta(minutes=1), "cd" * 32)
    await store.put(old_orphan, JPEG)
    await store.put(young_orphan, JPEG)
    return {"dangling": snaps[2].id, "kept": snaps[1].id, "old": old_orphan, "young": young_orphan}


async def check_and_repair(catalog: Catalog, store: ObjectStore) -> None:
    # fsck runs a grace period after the objects were stored; the keys' times
    # (when the pictures were captured) are what tells the orphans apart.
    now = datetime.now(UTC) + ORPHAN_GRACE + timedelta(minutes=1)
    seeded = await seed(catalog, store, now)
    report = await find_inconsistencies(catalog, store, now=now)
    assert report.rows_checked == 3
    assert report.dangling_rows == [seeded["dangling"]]
    assert report.orphan_objects == [seeded["old"]]  # the young one may still get its row
    await repair(catalog, store, report)
    after = await find_inconsistencies(catalog, store, now=now)
    assert after.clean
    assert await store.stat(str(seeded["young"])) is not None
    async with catalog.sessions() as session:
        camera = await session.get(Camera, "water:w1")
        ids = (await session.scalars(select(Snapshot.id).order_by(Snapshot.id))).all()
    assert camera is not None
    assert camera.last_snapshot_id == seeded["kept"]
    assert len(ids) == 2


async def test_fsck_repairs_the_local_store(catalog: Catalog, tmp_path: Path) -> None:
    await check_and_repair(catalog, LocalStore(tmp_path / "objects"))


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
async def test_fsck_repairs_the_s3_store(
    catalog: Catalog, s3_server: S3Server, s3_bucket: str
) -> None:
    store = open_store(s3_server.url(s3_bucket))
    try:
        await check_and_repair(catalog, store)
    finally:
        await store.close()


async def test_objects_captured_long_ago_but_stored_just_now_are_not_orphans(
    catalog: Catalog, tmp_path: Path
) -> None:
    """A worker replaying its spool after a long store outage puts old pictures, then rows."""
    store = LocalStore(tmp_path / "objects")
    now = datetime.now(UTC)
    replayed = snapshot_key("img", "water", "w1", now - timedelta(hours=5), "ef" * 32)
    await store.put(replayed, JPEG)
    report = await find_inconsistencies(catalog, store, now=now)
    assert report.orphan_objects == []
    later = await find_inconsistencies(
        catalog, store, now=now + ORPHAN_GRACE + timedelta(seconds=1)
    )
    assert later.orphan_objects == [replayed]  # still no row once the grace has passed


def test_key_time_reads_the_capture_time_from_a_key() -> None:
    key = snapshot_key("thumb", "water", "w1", NOW, "ef" * 32)
    assert key_time(key) == NOW
    assert key_time("img/water/w1/notes.txt") is None
