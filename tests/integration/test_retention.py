"""Retention: old snapshots and their objects go in batches; a camera's latest stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from catalog.db import Catalog
from catalog.fsck import find_inconsistencies
from catalog.models import Camera, Snapshot, utcnow
from catalog.retention import department_retention, expire_snapshots
from catalog.store import LocalStore, snapshot_key
from catalog.sync import sync_config
from config import load_config
from ingest.farm import CameraFarm
from tests.integration.test_ingest import write_config

DAY = timedelta(days=1)


def test_a_department_keeps_its_own_retention_else_the_default() -> None:
    assert department_retention({"a": DAY, "b": None}, None) == {"a": DAY}
    assert department_retention({"a": DAY, "b": None}, 7 * DAY) == {"a": DAY, "b": 7 * DAY}


def test_the_global_retention_setting(tmp_path: Path) -> None:
    (tmp_path / "departments").mkdir()
    (tmp_path / "departments" / "a.yaml").write_text(
        "department: {id: a, name: 甲}\ndefaults: {retention: 30d}\n", encoding="utf-8"
    )
    assert load_config(tmp_path, env={}).settings.retention is None
    (tmp_path / "camgrid.toml").write_text('retention = "90d"\n', encoding="utf-8")
    loaded = load_config(tmp_path, env={"CAMGRID_RETENTION": "7d"})
    assert loaded.settings.retention == 7 * DAY
    assert loaded.departments[0].defaults.retention == 30 * DAY


async def test_old_snapshots_go_rows_first_and_the_latest_stays(
    catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path / "config", camera_farm)
    store = LocalStore(tmp_path / "objects")
    now = utcnow()
    async with catalog.sessions() as session, session.begin():
        await sync_config(session, loaded.departments, loaded.grid_cells, now)
        uids = list((await session.scalars(select(Camera.uid).order_by(Camera.uid))).all())[:2]
        rows = []
        for uid in uids:
            for age_days in (10, 9, 8, 0):  # three expired, one fresh
                at = now - age_days * DAY - timedelta(seconds=1)
                sha = f"{age_days:02d}{uid.encode().hex()}".ljust(64, "0")[:64]
                keys = [
                    snapshot_key(k, "water", uid.split(":")[1], at, sha) for k in ("img", "thumb")
                ]
                for key in keys:
                    await store.put(key, b"jpeg")
                row = Snapshot(
                    camera_uid=uid, captured_at=at, width=1, height=1, bytes=4, sha256=sha,
                    phash=0, object_key=keys[0], thumb_key=keys[1], brightness=0.0,
                    sharpness=0.0, flags=[],
                )  # fmt: skip
                session.add(row)
                rows.append(row)
        await session.flush()
        # The first camera's latest snapshot is its oldest (its camera has been off since).
        oldest = rows[0]
        await session.execute(
            update(Camera).where(Camera.uid == uids[0]).values(last_snapshot_id=oldest.id)
        )
    report = await expire_snapshots(catalog, store, {"water": 5 * DAY}, now, batch=2)
    assert report.rows == 5  # 3 + 3 old ones, less the first camera's latest
    async with catalog.sessions() as session:
        left = (await session.execute(select(Snapshot.camera_uid, Snapshot.id))).all()
    kept = {row.id for row in rows if row.captured_at > now - 5 * DAY} | {oldest.id}
    assert {snapshot_id for _, snapshot_id in left} == kept
    stored = {key async for key in store.iter_keys("")}
    assert stored == {k for row in rows if row.id in kept for k in (row.object_key, row.thumb_key)}
    assert (await find_inconsistencies(catalog, store)).clean
    again = await expire_snapshots(catalog, store, {"water": 5 * DAY}, now)
    assert again.rows == 0
    await store.close()
