"""Thumbnails are stored without a sync: a lost or cut-short one is rebuilt from its image.

Real pictures from the fixture farm go through the real scheduler into a LocalStore;
then the thumbnail is deleted or cut short in the store, and the API (over a real
socket) and fsck must bring back the very bytes ingest stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application, Request
from sqlalchemy import select

from api.app import ApiSettings, create_app
from catalog.db import Catalog
from catalog.fsck import find_inconsistencies, repair
from catalog.models import AuditEntry, Snapshot
from catalog.principals import create_principal
from catalog.store import LocalStore
from ingest.farm import CameraFarm
from tests.integration.test_ingest import Rig, build_rig, write_config

Client = TestClient[Request, Application]


@pytest.fixture
async def rig(catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path) -> AsyncIterator[Rig]:
    """One poll round of the fixture farm stored under tmp_path/objects (synced, as served)."""
    loaded = write_config(tmp_path / "config", camera_farm)
    async for made in build_rig(catalog, LocalStore(tmp_path / "objects"), loaded):
        await made.scheduler.run_once()
        yield made


@pytest.fixture
async def api(rig: Rig, tmp_path: Path) -> AsyncIterator[tuple[Client, str]]:
    """The API over the rig's catalog and objects, and an operator's token."""
    async with rig.catalog.sessions() as session, session.begin():
        token = await create_principal(session, name="desk-1", role="operator")
    url = rig.catalog.engine.url.render_as_string(hide_password=False)
    settings = ApiSettings(url, "file:objects", tmp_path)
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        yield client, token


async def changing_snapshot(rig: Rig) -> Snapshot:
    return next(s for s in await rig.snapshots() if s.camera_uid == "water:changing-none")


async def get_thumb(api: tuple[Client, str], path: str) -> tuple[int, bytes, str]:
    client, token = api
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.read(), response.headers.get("ETag", "")


async def test_a_deleted_thumbnail_is_served_rebuilt_and_stored_again(
    rig: Rig, api: tuple[Client, str]
) -> None:
    snap = await changing_snapshot(rig)
    stored = await rig.store.get(snap.thumb_key)
    await rig.store.delete(snap.thumb_key)
    assert await rig.store.stat(snap.thumb_key) is None

    status, body, etag = await get_thumb(api, f"/api/v1/snapshots/{snap.id}.jpg?size=thumb")
    assert status == 200
    assert body == stored  # the bytes ingest made, so the ETag still holds
    assert etag == f'"{snap.sha256}-thumb"'
    picture = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    assert picture.shape == (180, 320, 3)  # the farm's 640x360 at thumbnail width
    assert await rig.store.get(snap.thumb_key) == stored  # put back for the next view
    async with rig.catalog.sessions() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.snapshot_id == snap.id)
            )
        ).all()
    assert list(actions) == ["view_thumb"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda thumb: thumb[: len(thumb) // 2],  # cut short
        lambda thumb: thumb[:-1024] + bytes(1024),  # its last block never written
        lambda thumb: b"",  # allocated, never written
    ],
    ids=["cut-short", "zeros-at-the-end", "empty"],
)
async def test_a_thumbnail_a_power_cut_damaged_is_served_rebuilt(
    rig: Rig, api: tuple[Client, str], damage: Callable[[bytes], bytes]
) -> None:
    snap = await changing_snapshot(rig)
    stored = await rig.store.get(snap.thumb_key)
    await rig.store.put(snap.thumb_key, damage(stored))
    uid = snap.camera_uid
    status, body, _ = await get_thumb(api, f"/api/v1/cameras/{uid}/latest.jpg?size=thumb")
    assert (status, body) == (200, stored)
    assert await rig.store.get(snap.thumb_key) == stored


async def test_a_thumbnail_whose_image_is_gone_too_is_404(
    rig: Rig, api: tuple[Client, str]
) -> None:
    snap = await changing_snapshot(rig)
    await rig.store.delete(snap.thumb_key)
    await rig.store.delete(snap.object_key)
    status, body, _ = await get_thumb(api, f"/api/v1/snapshots/{snap.id}.jpg?size=thumb")
    assert status == 404
    assert f'"detail": "the thumbnail of snapshot {snap.id} is missing"'.encode() in body
    assert await rig.store.stat(snap.thumb_key) is None


async def test_fsck_reports_missing_thumbnails_apart_and_repair_rebuilds_them(rig: Rig) -> None:
    snaps = {s.camera_uid: s for s in await rig.snapshots()}
    lost, broken = snaps["water:changing-none"], snaps["water:static-none"]
    stored = await rig.store.get(lost.thumb_key)
    await rig.store.delete(lost.thumb_key)
    await rig.store.delete(broken.thumb_key)
    await rig.store.put(broken.object_key, b"\xff\xd8\xff\xe0not a picture\xff\xd9")

    report = await find_inconsistencies(rig.catalog, rig.store)
    assert report.dangling_rows == []
    assert report.orphan_objects == []
    assert report.missing_thumbs == sorted([lost.id, broken.id])
    assert not report.clean

    await repair(rig.catalog, rig.store, report)
    assert report.unrebuilt_thumbs == [broken.id]  # its image does not decode: left as it is
    assert await rig.store.get(lost.thumb_key) == stored
    after = await find_inconsistencies(rig.catalog, rig.store)
    assert after.missing_thumbs == [broken.id]
    assert after.dangling_rows == []
    assert len(await rig.snapshots()) == len(snaps)  # no row deleted for a thumbnail
