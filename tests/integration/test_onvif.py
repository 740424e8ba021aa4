"""The onvif snapshot connector and inventory fetcher against a fake ONVIF device."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from config import (
    AuthSettings,
    DefaultsSettings,
    DepartmentConfig,
    OnvifInventorySettings,
)
from ingest.connectors import (
    AuthRejected,
    BadResponse,
    CameraTarget,
    CameraUnreachable,
    ConnectorContext,
)
from ingest.connectors.onvif import OnvifSnapshotConnector
from ingest.image import inspect_jpeg
from ingest.inventory import InventoryContext, InventoryError
from ingest.inventory.onvif import OnvifFetcher
from tests.fixtures.onvif_device import SNAPSHOT_SIZE, FakeOnvifDevice

SOAP_CALLS = {"GetCapabilities": 1, "GetProfiles": 1, "GetSnapshotUri": 1}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def device(onvif_device: FakeOnvifDevice) -> FakeOnvifDevice:
    onvif_device.reset()
    return onvif_device


def target(device: FakeOnvifDevice, password: str | None = None) -> CameraTarget:
    return CameraTarget(
        uid="water:onvif-1",
        kind="onvif",
        url=device.device_url,
        auth_scheme="digest",
        username=device.username,
        password=device.password if password is None else password,
        timeout_s=5.0,
    )


async def test_snapshot_through_the_snapshot_uri(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    connector = OnvifSnapshotConnector(ConnectorContext(session=session))
    data = await connector.fetch(target(device))
    assert data == device.jpeg
    check = inspect_jpeg(data)
    assert (check.width, check.height) == SNAPSHOT_SIZE
    assert dict(device.calls) == SOAP_CALLS
    assert await connector.snapshot_uri(target(device)) == device.snapshot_url


async def test_the_snapshot_uri_is_cached_for_a_while(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    clock = Clock()
    connector = OnvifSnapshotConnector(
        ConnectorContext(session=session), uri_ttl_s=600.0, clock=clock
    )
    for _ in range(3):
        assert await connector.fetch(target(device)) == device.jpeg
    assert dict(device.calls) == SOAP_CALLS
    assert device.snapshots == 3
    clock.now += 601.0
    await connector.fetch(target(device))
    assert device.calls["GetSnapshotUri"] == 2


async def test_a_failed_fetch_forgets_the_uri(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    connector = OnvifSnapshotConnector(ConnectorContext(session=session))
    await connector.fetch(target(device))
    device.snapshot_status = 503
    with pytest.raises(BadResponse, match="HTTP 503"):
        await connector.fetch(target(device))
    device.snapshot_status = 200
    assert await connector.fetch(target(device)) == device.jpeg
    assert device.calls["GetSnapshotUri"] == 2


@pytest.mark.parametrize("password", ["wrong-password", ""])
async def test_wrong_password_is_auth_rejected(
    session: aiohttp.ClientSession, device: FakeOnvifDevice, password: str
) -> None:
    connector = OnvifSnapshotConnector(ConnectorContext(session=session))
    with pytest.raises(AuthRejected) as caught:
        await connector.fetch(target(device, password=password))
    assert caught.value.reason == "auth rejected"
    assert not device.calls  # the fault came before any operation was answered
    assert device.snapshots == 0


async def test_no_credentials_is_auth_rejected(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    connector = OnvifSnapshotConnector(ConnectorContext(session=session))
    anonymous = CameraTarget(uid="water:onvif-2", kind="onvif", url=device.device_url)
    with pytest.raises(AuthRejected):
        await connector.fetch(anonymous)


async def test_device_without_snapshots(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    device.has_snapshot = False
    connector = OnvifSnapshotConnector(ConnectorContext(session=session))
    with pytest.raises(BadResponse) as caught:
        await connector.fetch(target(device))
    assert caught.value.reason == "SOAP fault: ActionNotSupported"


async def test_unreachable_device(session: aiohttp.ClientSession) -> None:
    connector = OnvifSnapshotConnector(ConnectorContext(session=session))
    closed = CameraTarget(uid="u", kind="onvif", url="http://127.0.0.1:9/onvif/device_service")
    with pytest.raises(CameraUnreachable):
        await connector.fetch(closed)


def department(device: FakeOnvifDevice, password: str | None = None) -> DepartmentConfig:
    secret = SecretStr(device.password if password is None else password)
    auth = AuthSettings(scheme="digest", username=device.username, password=secret)
    return DepartmentConfig(
        id="water",
        name="水利局",
        file=Path("/config/departments/water.yaml"),
        defaults=DefaultsSettings(timeout=timedelta(seconds=5), auth=auth),
        cameras=(),
        inventories=(),
    )


def spec(device: FakeOnvifDevice, **extra: str) -> OnvifInventorySettings:
    return OnvifInventorySettings.model_validate(
        {"kind": "onvif", "url": device.device_url, "every": "1h", **extra}
    )


async def test_inventory_row_from_the_device(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    fetcher = OnvifFetcher(InventoryContext(session=session))
    result = await fetcher.fetch(spec(device), department(device))
    assert result.problems == []
    [row] = result.rows
    assert row.id == device.serial
    assert row.name == device.model
    assert row.snapshot_url == device.snapshot_url
    assert row.snapshot_kind == "http"
    assert row.extra == {
        "manufacturer": device.manufacturer,
        "model": device.model,
        "firmware": device.firmware,
        "serial": device.serial,
        "hardware_id": "88",
    }
    assert device.calls["GetDeviceInformation"] == 1


async def test_inventory_id_and_name_from_the_spec(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    fetcher = OnvifFetcher(InventoryContext(session=session))
    result = await fetcher.fetch(spec(device, id="pump-7", name="泵站7号"), department(device))
    [row] = result.rows
    assert (row.id, row.name) == ("pump-7", "泵站7号")


async def test_inventory_device_without_snapshots(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    device.has_snapshot = False
    fetcher = OnvifFetcher(InventoryContext(session=session))
    [row] = (await fetcher.fetch(spec(device), department(device))).rows
    assert row.snapshot_url is None
    assert row.snapshot_kind is None


async def test_inventory_serial_that_is_no_camera_id(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    device.serial = "SN 12.34/5"
    fetcher = OnvifFetcher(InventoryContext(session=session))
    result = await fetcher.fetch(spec(device), department(device))
    assert result.rows == []
    [problem] = result.problems
    assert problem.where.endswith("/onvif/device_service serial number")
    assert "camera id 'SN 12.34/5' should be" in problem.message
    assert problem.message.endswith("give the inventory an id")


async def test_inventory_wrong_password(
    session: aiohttp.ClientSession, device: FakeOnvifDevice
) -> None:
    fetcher = OnvifFetcher(InventoryContext(session=session))
    with pytest.raises(InventoryError) as caught:
        await fetcher.fetch(spec(device), department(device, password="nope-nope"))
    assert caught.value.reason == f"{device.device_url}: auth rejected"
    assert "nope-nope" not in str(caught.value)
