"""`allow_networks` and ONVIF: a snapshot URI the device hands back is checked before any fetch.

A department file with one ``onvif`` camera (the fake device on loopback) and
``allow_networks: [127.0.0.0/8]``, polled by the real scheduler on SQLite and
PostgreSQL. The device is told to answer GetSnapshotUri with another host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from sqlalchemy import select

from catalog.db import Catalog
from catalog.models import Camera, CameraStatusEvent, Snapshot
from catalog.store import LocalStore
from config import LoadedConfig, load_config
from ingest.connectors import AddressRefused, CameraTarget, ConnectorContext
from ingest.connectors.onvif import OnvifSnapshotConnector
from tests.fixtures.onvif_device import FakeOnvifDevice
from tests.integration.test_ingest import Rig, build_rig

PASSWORD_ENV = "TEST_ONVIF_PASSWORD"
UID = "water:pump-7"


def write_config(root: Path, device: FakeOnvifDevice, networks: list[str]) -> LoadedConfig:
    """The water department: one onvif camera, digest auth, `allow_networks` as given."""
    (root / "departments").mkdir(parents=True)
    (root / "grids").mkdir()
    document = {
        "department": {"id": "water", "name": "芦淞区水利局"},
        "defaults": {
            "interval": "1m",
            "timeout": "5s",
            "allow_networks": networks,
            "auth": {
                "scheme": "digest",
                "username": device.username,
                "password": f"${{{PASSWORD_ENV}}}",
            },
        },
        "cameras": [
            {
                "id": "pump-7",
                "name": "泵站7号",
                "location": {"lon": 113.15, "lat": 27.81},
                "snapshot": {"kind": "onvif", "url": device.device_url},
            }
        ],
    }
    (root / "departments" / "water.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True), encoding="utf-8"
    )
    return load_config(root, env={PASSWORD_ENV: device.password})


@pytest.fixture
def device(onvif_device: FakeOnvifDevice) -> FakeOnvifDevice:
    onvif_device.reset()
    return onvif_device


async def polled_once(catalog: Catalog, loaded: LoadedConfig, tmp_path: Path) -> AsyncIterator[Rig]:
    async for rig in build_rig(catalog, LocalStore(tmp_path / "objects", fsync=False), loaded):
        assert await rig.scheduler.run_once() == 1
        yield rig


async def camera_and_snapshots(
    rig: Rig,
) -> tuple[Camera, list[Snapshot], list[tuple[str, str]]]:
    """The camera, every snapshot row, and the camera's status history (status, reason)."""
    async with rig.catalog.sessions() as session:
        camera = await session.get(Camera, UID)
        assert camera is not None
        snapshots = list(await session.scalars(select(Snapshot)))
        events = (
            await session.execute(
                select(CameraStatusEvent.status, CameraStatusEvent.reason)
                .where(CameraStatusEvent.camera_uid == UID)
                .order_by(CameraStatusEvent.id)
            )
        ).all()
    return camera, snapshots, [(status, reason) for status, reason in events]


@pytest.mark.parametrize(
    ("answered_host", "reason"),
    [
        # another name of the very device: were it fetched, the picture would come
        ("localhost", "snapshot URI host localhost not in allow_networks"),
        ("192.0.2.7", "snapshot URI host 192.0.2.7 not in allow_networks"),
    ],
)
async def test_a_snapshot_uri_outside_allow_networks_fails_the_poll_unfetched(
    catalog: Catalog,
    device: FakeOnvifDevice,
    tmp_path: Path,
    answered_host: str,
    reason: str,
) -> None:
    device.snapshot_host = answered_host
    loaded = write_config(tmp_path / "config", device, ["127.0.0.0/8"])
    async for rig in polled_once(catalog, loaded, tmp_path):
        camera, snapshots, events = await camera_and_snapshots(rig)
        assert (camera.status, camera.status_reason) == ("offline", reason)
        assert events[-1] == ("offline", reason)
        assert snapshots == []
        assert device.calls["GetSnapshotUri"] == 1
        assert device.snapshots == 0  # never fetched


async def test_a_snapshot_uri_inside_allow_networks_is_fetched(
    catalog: Catalog, device: FakeOnvifDevice, tmp_path: Path
) -> None:
    loaded = write_config(tmp_path / "config", device, ["10.0.0.0/8", "127.0.0.0/8"])
    async for rig in polled_once(catalog, loaded, tmp_path):
        camera, snapshots, _ = await camera_and_snapshots(rig)
        assert (camera.status, camera.status_reason) == ("online", "")
        [snapshot] = snapshots
        assert await rig.store.get(snapshot.object_key) == device.jpeg
        assert device.snapshots == 1


def loopback_only(device: FakeOnvifDevice) -> CameraTarget:
    """The device as a worker's target for a department that allows 127.0.0.0/8 only."""
    return CameraTarget(
        uid=UID,
        kind="onvif",
        url=device.device_url,
        auth_scheme="digest",
        username=device.username,
        password=device.password,
        timeout_s=5.0,
        allow_networks=(ipaddress.ip_network("127.0.0.0/8"),),
    )


async def test_a_refused_uri_is_not_kept_and_the_device_is_asked_again(
    device: FakeOnvifDevice,
) -> None:
    device.snapshot_host = "localhost"
    target = loopback_only(device)
    async with aiohttp.ClientSession() as session:
        connector = OnvifSnapshotConnector(ConnectorContext(session=session))
        for _ in range(2):
            with pytest.raises(AddressRefused) as caught:
                await connector.fetch(target)
            assert caught.value.reason == "snapshot URI host localhost not in allow_networks"
        device.snapshot_host = "127.0.0.1"  # the device was set right
        assert await connector.fetch(target) == device.jpeg
    assert device.calls["GetSnapshotUri"] == 3
    assert device.snapshots == 1


async def test_a_media_service_outside_allow_networks_is_not_called(
    device: FakeOnvifDevice,
) -> None:
    device.media_host = "localhost"  # the same server under a name, so a call would land
    target = loopback_only(device)
    async with aiohttp.ClientSession() as session:
        connector = OnvifSnapshotConnector(ConnectorContext(session=session))
        with pytest.raises(AddressRefused) as caught:
            await connector.fetch(target)
    assert caught.value.reason == "media service host localhost not in allow_networks"
    assert dict(device.calls) == {"GetCapabilities": 1}  # no GetProfiles, no GetSnapshotUri
    assert device.snapshots == 0
