"""Faults: the object store and the database go away mid-ingest, and nothing is lost.

A cuttable TCP proxy (`tests.fixtures.proxy`) sits between the `MinioStore` and
the S3 server, or between the catalog and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from api.app import ApiSettings, create_app
from api.shapes import rfc3339
from catalog.db import Catalog, open_catalog
from catalog.fsck import find_inconsistencies
from catalog.models import Camera, CaptureRequest, Snapshot
from catalog.principals import create_principal
from catalog.store import ObjectStore, open_store
from ingest.captures import CaptureRunner, CaptureSettings
from ingest.farm import CameraFarm
from ingest.spool import Spool, replay_once, replay_spool
from ingest.worker import WorkerSettings, open_scheduler
from tests.fixtures.proxy import TcpProxy, running_proxy
from tests.fixtures.s3server import S3Server
from tests.integration.api_env import url_of
from tests.integration.test_ingest import Rig, build_rig, write_config

STORED = {"changing-none", "changing-digest", "changing-basic", "static-none", "black-none"}
STORED |= {"error_page-none"}


@pytest.fixture
async def store_proxy(s3_server: S3Server) -> AsyncIterator[TcpProxy]:
    async with running_proxy(s3_server.endpoint) as proxy:
        yield proxy


@pytest.fixture
async def proxied_store(
    s3_server: S3Server, s3_bucket: str, store_proxy: TcpProxy
) -> AsyncIterator[ObjectStore]:
    store = open_store(s3_server.url(s3_bucket).replace(s3_server.endpoint, store_proxy.endpoint))
    await store.put("probe/ready", b"")  # creates the bucket while the store is up
    await store.delete("probe/ready")
    try:
        yield store
    finally:
        await store.close()


async def spooled_rig(
    catalog: Catalog, store: ObjectStore, camera_farm: CameraFarm, tmp_path: Path, max_bytes: int
) -> AsyncIterator[Rig]:
    loaded = write_config(tmp_path / "config", camera_farm)
    settings = WorkerSettings(
        concurrency=16, spool_dir=tmp_path / "spool", spool_max_bytes=max_bytes
    )
    async for _rig in build_rig(catalog, store, loaded):
        async with open_scheduler(loaded, catalog, store, settings) as scheduler:
            yield Rig(catalog, store, scheduler)


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
async def test_a_store_outage_spools_pictures_and_replays_them_in_order(
    catalog: Catalog,
    camera_farm: CameraFarm,
    tmp_path: Path,
    proxied_store: ObjectStore,
    store_proxy: TcpProxy,
) -> None:
    async for rig in spooled_rig(catalog, proxied_store, camera_farm, tmp_path, 1 << 30):
        await store_proxy.cut()
        await rig.scheduler.run_once()
        spool = rig.scheduler.pipeline.spool
        assert spool is not None
        assert len(spool) == len(STORED)
        assert await rig.snapshots() == []  # no row before its object is in the store
        cameras = await rig.cameras()
        assert (cameras["changing-none"].status, cameras["changing-none"].status_reason) == (
            "online",
            "",
        )
        assert cameras["black-none"].status_reason == "black image"
        assert cameras["changing-none"].last_phash is not None
        assert cameras["changing-none"].last_snapshot_id is None
        spooled = {(await spool.load(p)).snapshot.object_key: p for p in spool.paths()}
        originals = {k: await spool.load(p) for k, p in spooled.items()}

        await rig.make_all_due()  # the pictures have not changed: nothing more to spool
        await rig.scheduler.run_once()
        assert len(spool) == len(STORED)

        await store_proxy.restore()
        assert await replay_once(spool, proxied_store, catalog) == len(STORED)
        rig.scheduler.pipeline.store_back()
        assert len(spool) == 0
        assert spool.bytes == 0
        snapshots = await rig.snapshots()
        assert {s.camera_uid.split(":")[1] for s in snapshots} == STORED
        for snap in snapshots:
            item = originals[snap.object_key]
            assert snap.captured_at == item.snapshot.captured_at
            assert await proxied_store.get(snap.object_key) == item.data
            assert await proxied_store.get(snap.thumb_key) == item.thumb
            assert hashlib.sha256(item.data).hexdigest() == snap.sha256
        cameras = await rig.cameras()
        latest = {s.camera_uid: s for s in snapshots}
        for camera in cameras.values():
            if camera.camera_id in STORED:
                assert camera.last_snapshot_id == latest[camera.uid].id
        assert (await find_inconsistencies(catalog, proxied_store)).clean
        # A replay after a crash between the row and the file's removal adds nothing.
        assert await replay_once(spool, proxied_store, catalog) == 0


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)
async def test_a_full_spool_pauses_polling_and_keeps_every_captured_picture(
    catalog: Catalog,
    camera_farm: CameraFarm,
    tmp_path: Path,
    proxied_store: ObjectStore,
    store_proxy: TcpProxy,
) -> None:
    async for rig in spooled_rig(catalog, proxied_store, camera_farm, tmp_path, 1):
        await store_proxy.cut()
        await rig.scheduler.run_once()
        pipeline = rig.scheduler.pipeline
        assert pipeline.spool is not None
        assert pipeline.paused
        # Every picture captured is spooled, even past the cap.
        assert len(pipeline.spool) == rig.scheduler.counters.spooled >= 1
        cameras = await rig.cameras()
        assert "store unavailable" in {c.status_reason for c in cameras.values()}
        await rig.make_all_due()
        assert await rig.scheduler.run_once() == 0  # paused: nothing leased

        # A restart finds the spool by its files alone.
        reopened = Spool(pipeline.spool.root, 1 << 30)
        assert reopened.bytes == pipeline.spool.bytes
        await store_proxy.restore()
        assert len(reopened) == rig.scheduler.counters.spooled
        assert await replay_once(reopened, proxied_store, catalog) == rig.scheduler.counters.spooled
        assert len(await rig.snapshots()) == rig.scheduler.counters.spooled


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
async def test_a_database_outage_keeps_results_until_the_catalog_is_back(
    catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path, pg_database: str
) -> None:
    host = pg_database.split("@", 1)[1].split("/", 1)[0]
    async with running_proxy(host) as proxy:
        proxied = open_catalog(pg_database.replace(host, proxy.endpoint))
        try:
            await _db_outage(proxied, catalog, camera_farm, tmp_path, proxy)
        finally:
            await proxied.close()


async def _db_outage(
    proxied: Catalog, direct: Catalog, farm: CameraFarm, tmp_path: Path, proxy: TcpProxy
) -> None:
    loaded = write_config(tmp_path / "config", farm)
    store = open_store(f"file:{tmp_path / 'objects'}")
    async for rig in build_rig(direct, store, loaded):
        async with open_scheduler(loaded, proxied, store, WorkerSettings()) as scheduler:
            started = await scheduler._start_due()  # leases through the proxy
            assert started == len(STORED) + 4
            await proxy.cut()
            while scheduler.in_flight:
                await _tick()
            with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own error
                await scheduler.flush()
            assert await rig.snapshots() == []
            await proxy.restore()
            await scheduler.flush()
        snapshots = await rig.snapshots()
        assert {s.camera_uid.split(":")[1] for s in snapshots} == STORED
        async with direct.sessions() as session:
            leased = await session.scalars(
                select(Camera.uid).where(Camera.lease_owner.is_not(None))
            )
            assert list(leased) == []
            count = len((await session.scalars(select(Snapshot.id))).all())
        assert count == len(STORED)
        assert (await find_inconsistencies(direct, store)).clean


async def _tick() -> None:
    await asyncio.sleep(0.05)


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)
async def test_the_replayer_waits_for_the_store_then_drains_and_polls_store_directly(
    catalog: Catalog,
    camera_farm: CameraFarm,
    tmp_path: Path,
    proxied_store: ObjectStore,
    store_proxy: TcpProxy,
) -> None:
    async for rig in spooled_rig(catalog, proxied_store, camera_farm, tmp_path, 1 << 30):
        await store_proxy.cut()
        await rig.scheduler.run_once()
        pipeline = rig.scheduler.pipeline
        spool = pipeline.spool
        assert spool is not None
        assert pipeline.store_down
        stop = asyncio.Event()
        replayer = asyncio.create_task(
            replay_spool(spool, proxied_store, catalog, stop, pipeline.store_back, retry_s=0.1)
        )
        await asyncio.sleep(0.3)
        assert len(spool) == len(STORED)  # the store is still away
        await store_proxy.restore()
        for _ in range(100):
            if not pipeline.store_down:
                break
            await _tick()
        stop.set()
        await replayer
        assert not pipeline.store_down
        assert len(spool) == 0
        assert len(await rig.snapshots()) == len(STORED)


async def test_a_capture_during_a_store_outage_is_done_and_shows_its_picture_once_stored(
    catalog: Catalog,
    camera_farm: CameraFarm,
    tmp_path: Path,
    proxied_store: ObjectStore,
    store_proxy: TcpProxy,
) -> None:
    uid = "water:changing-none"
    async for rig in spooled_rig(catalog, proxied_store, camera_farm, tmp_path, 1 << 30):
        runner = CaptureRunner(catalog, rig.scheduler.pipeline, CaptureSettings(owner="worker-1"))
        async with catalog.sessions() as session, session.begin():
            token = await create_principal(session, name="duty", role="operator")
        headers = {"Authorization": f"Bearer {token}"}
        settings = ApiSettings(url_of(catalog), "file:objects", tmp_path)
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            await store_proxy.cut()
            asked = await client.post(f"/api/v1/cameras/{uid}/capture?wait=0", headers=headers)
            assert asked.status == 202
            poll = (await asked.json())["poll"]
            assert await runner.run_once() == 1
            assert (runner.done, runner.failed) == (1, 0)
            spool = rig.scheduler.pipeline.spool
            assert spool is not None
            [path] = spool.paths()
            spooled = await spool.load(path)
            taken = await (await client.get(poll, headers=headers)).json()
            assert (taken["state"], taken["error"], taken["snapshot"]) == ("done", None, None)
            assert taken["finished_at"] == rfc3339(spooled.snapshot.captured_at)
            assert await rig.snapshots() == []  # no row before its object is in the store
            camera = (await rig.cameras())["changing-none"]
            assert (camera.status, camera.status_reason) == ("online", "")
            assert camera.last_phash == spooled.snapshot.phash

            await store_proxy.restore()
            assert await replay_once(spool, proxied_store, catalog) == 1
            [row] = await rig.snapshots()
            stored = await (await client.get(poll, headers=headers)).json()
            assert stored["state"] == "done"
            assert stored["snapshot"]["id"] == row.id
            assert stored["snapshot"]["captured_at"] == taken["finished_at"]
            assert await proxied_store.get(row.object_key) == spooled.data
        async with catalog.sessions() as session:
            request = await session.get(CaptureRequest, taken["capture_id"])
            assert request is not None
            assert (request.state, request.snapshot_id) == ("done", row.id)  # linked for good
