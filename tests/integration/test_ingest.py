"""Ingest end to end: config → catalog → scheduler polls fake cameras → objects and rows.

Runs on SQLite and PostgreSQL, with the local store and with the S3 server.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update

from catalog.db import Catalog
from catalog.models import Camera, CameraStatusEvent, Snapshot, utcnow
from catalog.polls import lease_due_cameras, record_poll_results
from catalog.store import LocalStore, ObjectStore, open_store
from catalog.sync import sync_config
from config import LoadedConfig, load_config
from ingest.farm import CameraFarm
from ingest.image import inspect_jpeg
from ingest.scheduler import Scheduler
from ingest.worker import WorkerSettings, open_scheduler
from tests.fixtures.cameras import FARM_PASSWORD, FARM_USERNAME
from tests.fixtures.s3server import S3Server

PASSWORD_ENV = "TEST_FARM_PASSWORD"
WATCHED = ("changing", "static", "black", "error_page", "offline", "html", "truncated", "slow")


def write_config(root: Path, farm: CameraFarm, wrong_password: bool = False) -> LoadedConfig:
    """A department file with one camera per watched behaviour, plus digest and basic ones."""
    cameras = []
    picks = [(b, "none") for b in WATCHED] + [("changing", "digest"), ("changing", "basic")]
    for behaviour, auth in picks:
        cam = farm.first(behaviour, auth=auth)
        entry: dict[str, object] = {
            "id": f"{behaviour}-{auth}",
            "name": f"{behaviour} {auth}",
            "location": {"lon": 113.15 + cam.index * 1e-4, "lat": 27.81},
            "snapshot": {"kind": "http", "url": farm.url(cam.index)},
        }
        if auth != "none":
            entry["auth"] = {
                "scheme": auth,
                "username": FARM_USERNAME,
                "password": f"${{{PASSWORD_ENV}}}",
            }
        cameras.append(entry)
    (root / "departments").mkdir(parents=True)
    (root / "grids").mkdir()
    document = {
        "department": {"id": "water", "name": "芦淞区水利局"},
        "defaults": {"interval": "1m", "timeout": "1500ms"},
        "cameras": cameras,
    }
    (root / "departments" / "water.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True), encoding="utf-8"
    )
    password = "wrong" if wrong_password else FARM_PASSWORD
    return load_config(root, env={PASSWORD_ENV: password})


@dataclass
class Rig:
    """A synced catalog, a store and a scheduler over the fixture farm."""

    catalog: Catalog
    store: ObjectStore
    scheduler: Scheduler

    async def make_all_due(self) -> None:
        async with self.catalog.sessions() as session, session.begin():
            await session.execute(update(Camera).values(next_due_at=utcnow()))

    async def cameras(self) -> dict[str, Camera]:
        async with self.catalog.sessions() as session:
            return {c.camera_id: c for c in (await session.scalars(select(Camera))).all()}

    async def snapshots(self) -> list[Snapshot]:
        async with self.catalog.sessions() as session:
            return list((await session.scalars(select(Snapshot).order_by(Snapshot.id))).all())


async def build_rig(
    catalog: Catalog, store: ObjectStore, loaded: LoadedConfig
) -> AsyncIterator[Rig]:
    async with catalog.sessions() as session, session.begin():
        await sync_config(session, loaded.departments, loaded.grid_cells, utcnow())
    await Rig(catalog, store, None).make_all_due()  # type: ignore[arg-type]
    async with open_scheduler(loaded, catalog, store, WorkerSettings(concurrency=16)) as sched:
        yield Rig(catalog, store, sched)


@pytest.fixture
async def rig(catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path) -> AsyncIterator[Rig]:
    loaded = write_config(tmp_path / "config", camera_farm)
    async for made in build_rig(catalog, LocalStore(tmp_path / "objects"), loaded):
        yield made


async def test_a_poll_round_stores_real_pictures_and_judges_every_camera(rig: Rig) -> None:
    polled = await rig.scheduler.run_once()
    assert polled == len(WATCHED) + 2
    cameras = await rig.cameras()
    states = {cid: (c.status, c.status_reason) for cid, c in cameras.items()}
    assert states == {
        "changing-none": ("online", ""),
        "changing-digest": ("online", ""),
        "changing-basic": ("online", ""),
        "static-none": ("online", ""),
        "black-none": ("degraded", "black image"),
        "error_page-none": ("degraded", "error image"),
        "offline-none": ("offline", "connection refused"),
        "html-none": ("offline", "not an image: text/html"),
        "truncated-none": ("offline", "truncated JPEG"),
        "slow-none": ("offline", "timeout"),
    }
    snapshots = await rig.snapshots()
    stored = {s.camera_uid.split(":")[1] for s in snapshots}
    assert stored == {
        "changing-none",
        "changing-digest",
        "changing-basic",
        "static-none",
        "black-none",
        "error_page-none",
    }
    for snap in snapshots:
        data = await rig.store.get(snap.object_key)
        assert hashlib.sha256(data).hexdigest() == snap.sha256
        assert len(data) == snap.bytes
        check = inspect_jpeg(data)
        assert (check.width, check.height) == (snap.width, snap.height)
        thumb = inspect_jpeg(await rig.store.get(snap.thumb_key))
        assert thumb.width == 320
        assert snap.object_key.startswith(f"img/water/{snap.camera_uid.split(':')[1]}/")
        assert cameras[snap.camera_uid.split(":")[1]].last_snapshot_id == snap.id
    black = next(s for s in snapshots if s.camera_uid == "water:black-none")
    assert black.flags == ["black"]


async def test_an_unchanged_picture_is_not_stored_again_and_same_bytes_freeze(rig: Rig) -> None:
    await rig.scheduler.run_once()
    first = len(await rig.snapshots())
    for _ in range(2):
        await rig.make_all_due()
        await rig.scheduler.run_once()
    assert len(await rig.snapshots()) == first  # nothing changed in the farm's scenes
    cameras = await rig.cameras()
    assert (cameras["changing-none"].status, cameras["changing-none"].status_reason) == (
        "online",
        "",
    )
    assert cameras["changing-none"].last_seen_at is not None
    assert cameras["changing-none"].last_seen_at > cameras["changing-none"].last_snapshot_at  # type: ignore[operator]
    assert (cameras["static-none"].status, cameras["static-none"].status_reason) == (
        "degraded",
        "frozen",
    )
    async with rig.catalog.sessions() as session:
        events = (
            await session.scalars(
                select(CameraStatusEvent.status)
                .where(CameraStatusEvent.camera_uid == "water:static-none")
                .order_by(CameraStatusEvent.id)
            )
        ).all()
    assert list(events) == ["unknown", "online", "degraded"]


async def test_failing_cameras_back_off(rig: Rig) -> None:
    await rig.scheduler.run_once()
    cameras = await rig.cameras()
    now = utcnow()
    offline = cameras["offline-none"]
    assert offline.failures == 1
    assert offline.next_due_at - now > timedelta(seconds=45)
    assert offline.lease_until is None


async def test_wrong_password_is_reported_as_auth_rejected(
    catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path / "config", camera_farm, wrong_password=True)
    async for rig in build_rig(catalog, LocalStore(tmp_path / "objects"), loaded):
        await rig.scheduler.run_once()
        cameras = await rig.cameras()
        assert (cameras["changing-digest"].status, cameras["changing-digest"].status_reason) == (
            "offline",
            "auth rejected",
        )
        assert cameras["changing-basic"].status_reason == "auth rejected"


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
async def test_pictures_land_in_the_s3_server(
    catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    loaded = write_config(tmp_path / "config", camera_farm)
    store = open_store(s3_server.url(s3_bucket))
    try:
        async for rig in build_rig(catalog, store, loaded):
            await rig.scheduler.run_once()
            snapshots = await rig.snapshots()
            assert len(snapshots) == 6
            keys = {key async for key in store.iter_keys("img/")}
            assert keys == {s.object_key for s in snapshots}
            for snap in snapshots:
                assert hashlib.sha256(await store.get(snap.object_key)).hexdigest() == snap.sha256
    finally:
        await store.close()


async def test_a_camera_retired_during_its_poll_stays_retired(rig: Rig) -> None:
    async with rig.catalog.sessions() as session, session.begin():
        due = await lease_due_cameras(session, owner="t", now=utcnow(), limit=100, lease_s=15)
    camera = next(c for c in due if c.camera_id == "changing-none")
    async with rig.catalog.sessions() as session, session.begin():
        await session.execute(
            update(Camera).where(Camera.uid == camera.uid).values(status="retired")
        )
    result = await rig.scheduler.pipeline.poll(camera)
    assert result.status == "online"
    async with rig.catalog.sessions() as session, session.begin():
        await record_poll_results(session, [result])
    after = (await rig.cameras())["changing-none"]
    assert (after.status, after.lease_until) == ("retired", None)
    assert len(await rig.snapshots()) == 1  # the picture itself is kept


async def test_a_lease_returns_the_poll_state_oldest_due_first(rig: Rig) -> None:
    now = utcnow()
    async with rig.catalog.sessions() as session, session.begin():
        cameras = (await session.scalars(select(Camera).order_by(Camera.uid))).all()
        for i, cam in enumerate(cameras):
            cam.next_due_at = now - timedelta(seconds=i)
    async with rig.catalog.sessions() as session, session.begin():
        due = await lease_due_cameras(session, owner="t", now=now, limit=3, lease_s=15)
    rows = {c.uid: c for c in (await rig.cameras()).values()}
    assert [c.uid for c in due] == [c.uid for c in cameras[::-1][:3]]  # the oldest due
    for camera in due:
        row = rows[camera.uid]
        assert (camera.target, camera.kind, camera.due_at) == (
            row.snapshot_target,
            row.kind,
            row.next_due_at,
        )
        assert (row.lease_owner, row.lease_until) == ("t", now + timedelta(seconds=15))
    async with rig.catalog.sessions() as session, session.begin():
        again = await lease_due_cameras(session, owner="u", now=now, limit=100, lease_s=15)
    assert {c.uid for c in again} == set(rows) - {c.uid for c in due}


async def test_a_lease_ahead_takes_cameras_due_by_then_and_no_later(rig: Rig) -> None:
    now = utcnow()
    async with rig.catalog.sessions() as session, session.begin():
        cameras = (await session.scalars(select(Camera).order_by(Camera.uid))).all()
        for i, cam in enumerate(cameras):  # one due now, the others 1 s apart after it
            cam.next_due_at = now + timedelta(seconds=i)
    async with rig.catalog.sessions() as session, session.begin():
        due = await lease_due_cameras(
            session, owner="t", now=now, limit=100, lease_s=15, due_by=now + timedelta(seconds=2)
        )
    assert [c.uid for c in due] == [c.uid for c in cameras[:3]]
    assert [c.due_at for c in due] == [now + timedelta(seconds=i) for i in range(3)]


async def test_a_camera_leased_ahead_is_polled_at_its_due_time_not_before(rig: Rig) -> None:
    due_at = utcnow() + timedelta(seconds=0.2)  # within one idle wait: leased ahead
    async with rig.catalog.sessions() as session, session.begin():
        await session.execute(update(Camera).values(next_due_at=utcnow() + timedelta(hours=1)))
        await session.execute(
            update(Camera).where(Camera.camera_id == "changing-none").values(next_due_at=due_at)
        )
    stop = asyncio.Event()
    running = asyncio.create_task(rig.scheduler.run(stop))
    try:
        for _ in range(200):  # until its result is recorded (10 s at most)
            if await rig.snapshots():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await running
    (snapshot,) = await rig.snapshots()
    assert snapshot.camera_uid == "water:changing-none"
    assert snapshot.captured_at >= due_at  # received after its due time, never before


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
async def test_concurrent_leases_skip_each_others_cameras(rig: Rig) -> None:
    first_leased = asyncio.Event()

    async def lease(owner: str, wait_for: asyncio.Event | None) -> set[str]:
        async with rig.catalog.sessions() as session, session.begin():
            if wait_for is not None:
                await wait_for.wait()
            due = await lease_due_cameras(session, owner=owner, now=utcnow(), limit=4, lease_s=15)
            if wait_for is None:
                first_leased.set()
                await asyncio.sleep(0.3)  # hold the row locks while the other one leases
            return {c.uid for c in due}

    a, b = await asyncio.gather(lease("a", None), lease("b", first_leased))
    assert len(a) == len(b) == 4
    assert not a & b
