"""A lower platform registers with camgrid over real sockets and its catalog lands in the catalog.

The fake lower platform (tests/fixtures/gb_platform.py) registers with digest
auth, keeps alive every 0.2 s (configured keepalive 0.5 s), and answers the
Catalog query with 500 cameras in GB2312, split into many messages sent out
of order with duplicates. Runs on SQLite and PostgreSQL, over UDP and TCP.
"""

from __future__ import annotations

import time
from typing import Literal

import pytest
from sqlalchemy import func, select

from catalog.db import Catalog
from catalog.gb28181_platforms import platform_bindings
from catalog.models import Camera, CameraStatusEvent, Inventory
from ingest.gb28181.platforms import KEEPALIVES_MISSED, UNREGISTERED
from ingest.gb28181.service import Gb28181Service
from tests.fixtures.databases import empty_catalog
from tests.fixtures.gb_platform import (
    PLATFORM_ID,
    PLATFORM_PASSWORD,
    UPPER_ID,
    FakeLowerPlatform,
    catalog_items,
    eventually,
    gb_config,
    running_upper,
)

SOURCE = "inventory:0"


async def statuses(catalog: Catalog) -> dict[str, int]:
    """Camera counts of the platform's source by status."""
    async with catalog.sessions() as session:
        rows = await session.execute(
            select(Camera.status, func.count())
            .where(Camera.source == SOURCE)
            .group_by(Camera.status)
        )
        return {status: count for status, count in rows}


def fake(
    service: Gb28181Service, transport: Literal["UDP", "TCP"] = "UDP", cameras: int = 20
) -> FakeLowerPlatform:
    assert service.endpoint is not None
    return FakeLowerPlatform(
        PLATFORM_ID,
        PLATFORM_PASSWORD,
        ("127.0.0.1", service.endpoint.port),
        upper_id=UPPER_ID,
        transport=transport,
        items=catalog_items(PLATFORM_ID, cameras),
        per_message=2 if cameras <= 20 else 10,
    )


@pytest.mark.parametrize(
    ("engine", "transport"), [("sqlite", "UDP"), ("postgresql", "UDP"), ("sqlite", "TCP")]
)
async def test_500_cameras_land_with_their_names_then_go_offline_without_keepalives(
    migrated_catalogs: dict[str, Catalog], engine: str, transport: Literal["UDP", "TCP"]
) -> None:
    catalog = migrated_catalogs[engine]  # the heaviest test: TCP on one engine only
    await empty_catalog(catalog)
    async with (
        running_upper(catalog, gb_config(keepalive_s=0.5)) as service,
        fake(service, transport, cameras=500) as platform,
    ):
        if True:
            started = time.monotonic()
            assert await platform.register() == [401, 200]
            platform.start_keepalives(0.2)

            async def landed() -> bool:
                counts = await statuses(catalog)
                return counts.get("online", 0) == 490 and counts.get("offline", 0) == 10

            await eventually(landed, within=10.0)
            took = time.monotonic() - started
            print(f"500 cameras over {transport} on {catalog.dialect}: {took:.2f} s")
            assert took < 8.0  # about 2 s on an idle machine
            assert len(platform.queries) == 1
            assert platform.answered.is_set()
            assert set(platform.answer_statuses) == {200}

            async with catalog.sessions() as session:
                camera = await session.get(Camera, f"police:{PLATFORM_ID[:10]}1320000007")
                assert camera is not None
                assert camera.name == "芦淞区建设路7号杆东向"
                assert camera.address == "建设路7号"
                assert camera.kind == "none"
                assert camera.tags == ["芦淞区视频专网", "治安监控业务分组"]
                assert camera.lon == pytest.approx(113.1007)
                assert camera.gb28181 is not None
                assert camera.gb28181["type_code"] == "132"
                assert camera.gb28181["division_name"] == "湖南省株洲市芦淞区"
                assert camera.gb28181["catalog"]["manufacturer"] == "海康威视"
                assert camera.gb28181["catalog"]["platform"] == PLATFORM_ID
                off = await session.get(Camera, f"police:{PLATFORM_ID[:10]}1320000050")
                assert off is not None
                assert (off.status, off.status_reason) == ("offline", "device reports OFF")
                inventory = await session.scalar(select(Inventory))
                assert inventory is not None
                assert (inventory.kind, inventory.last_count, inventory.last_error) == (
                    "gb28181",
                    500,
                    None,
                )
                groups = await session.scalar(
                    select(func.count()).select_from(Camera).where(Camera.name.like("%业务分组%"))
                )
                assert groups == 0  # groups are tags, not cameras

            platform.stop_keepalives()
            silent = time.monotonic()
            await eventually(lambda: _all_offline(catalog, 500), within=3.0)
            print(f"keepalives stopped -> 500 offline: {time.monotonic() - silent:.2f} s")
            assert time.monotonic() - silent < 3 * 0.5 + 2.0
            async with catalog.sessions() as session:
                reasons = set(
                    await session.scalars(
                        select(Camera.status_reason).where(Camera.source == SOURCE)
                    )
                )
                assert reasons == {KEEPALIVES_MISSED}
                events = await session.scalar(
                    select(func.count())
                    .select_from(CameraStatusEvent)
                    .where(CameraStatusEvent.reason == KEEPALIVES_MISSED)
                )
                assert events == 500
                binding = (await platform_bindings(session))[PLATFORM_ID]
                assert binding.state == KEEPALIVES_MISSED
                assert binding.contact == f"{transport.lower()} 127.0.0.1:{platform.port}"

            platform.start_keepalives(0.2)  # back: cameras follow what the platform reported
            await eventually(landed, within=3.0)


async def _all_offline(catalog: Catalog, count: int) -> bool:
    return (await statuses(catalog)) == {"offline": count}


async def test_notifications_add_delete_update_and_switch_cameras(catalog: Catalog) -> None:
    async with running_upper(catalog, gb_config()) as service, fake(service) as platform:
        assert await platform.register() == [401, 200]
        platform.start_keepalives(0.2)
        await eventually(lambda: _counts_are(catalog, {"online": 19, "offline": 1}), within=5.0)
        centre = PLATFORM_ID[:10]
        added = {
            "DeviceID": f"{centre}1329000001",
            "Name": "新增点位南门",
            "Status": "ON",
            "Event": "ADD",
            "SnapShotURL": "http://10.0.0.9/ISAPI/Streaming/channels/101/picture",
        }
        assert await platform.notify([added]) == 200
        assert await platform.notify([{"DeviceID": f"{centre}1320000001", "Event": "DEL"}]) == 200
        assert await platform.notify([{"DeviceID": f"{centre}1320000002", "Event": "OFF"}]) == 200
        assert await platform.notify([{"DeviceID": f"{centre}1320000000", "Event": "ON"}]) == 200
        update = {"DeviceID": f"{centre}1320000003", "Name": "改名后的点位", "Event": "UPDATE"}
        assert await platform.notify(
            [update, {"DeviceID": f"{centre}1320000004", "Event": "VLOST"}]
        )

        expected = {"online": 18, "offline": 1, "degraded": 1, "retired": 1}
        await eventually(lambda: _counts_are(catalog, expected), within=5.0)
        async with catalog.sessions() as session:
            new = await session.get(Camera, f"police:{centre}1329000001")
            assert new is not None
            assert (new.name, new.kind, new.status) == ("新增点位南门", "http", "online")
            assert new.snapshot_target == "http://10.0.0.9/ISAPI/Streaming/channels/101/picture"
            gone = await session.get(Camera, f"police:{centre}1320000001")
            assert gone is not None
            assert (gone.status, gone.status_reason) == ("retired", f"left {SOURCE}")
            renamed = await session.get(Camera, f"police:{centre}1320000003")
            assert renamed is not None
            assert renamed.name == "改名后的点位"
            assert renamed.address == "建设路3号"  # an UPDATE keeps what it does not say
            off = await session.get(Camera, f"police:{centre}1320000002")
            assert off is not None
            assert (off.status, off.status_reason) == ("offline", "device reports OFF")
            vlost = await session.get(Camera, f"police:{centre}1320000004")
            assert vlost is not None
            assert (vlost.status, vlost.status_reason) == ("degraded", "device reports VLOST")


async def _counts_are(catalog: Catalog, expected: dict[str, int]) -> bool:
    return await statuses(catalog) == expected


async def test_wrong_password_gets_401_then_403(catalog: Catalog) -> None:
    async with running_upper(catalog, gb_config()) as service, fake(service) as platform:
        assert await platform.register(password="guess") == [401, 401, 401, 403]
        assert await platform.keepalive() == 403  # not registered
        assert await platform.register() == [403]  # locked out for a while, right password or not
        async with catalog.sessions() as session:
            assert await platform_bindings(session) == {}


async def test_expires_zero_unregisters_and_takes_the_cameras_offline(catalog: Catalog) -> None:
    async with running_upper(catalog, gb_config()) as service, fake(service) as platform:
        assert await platform.register() == [401, 200]
        platform.start_keepalives(0.2)
        await eventually(lambda: _counts_are(catalog, {"online": 19, "offline": 1}), within=5.0)
        platform.stop_keepalives()
        assert await platform.register(expires=0) == [401, 200]
        await eventually(lambda: _all_offline(catalog, 20), within=3.0)
        async with catalog.sessions() as session:
            reasons = set(await session.scalars(select(Camera.status_reason)))
            assert reasons == {UNREGISTERED}
            assert await platform_bindings(session) == {}
        assert await platform.keepalive() == 403


async def _inventory(catalog: Catalog) -> Inventory:
    async with catalog.sessions() as session:
        row: Inventory | None = await session.scalar(select(Inventory))
    assert row is not None
    return row


async def test_incomplete_or_empty_catalogs_retire_nothing(catalog: Catalog) -> None:
    async with running_upper(catalog, gb_config()) as service, fake(service) as platform:
        assert await platform.register() == [401, 200]
        platform.start_keepalives(0.2)
        await eventually(lambda: _counts_are(catalog, {"online": 19, "offline": 1}), within=5.0)
        assert (await _inventory(catalog)).last_count == 20

        platform.lose_pieces = 2  # after a restart the platform's answer comes short
        platform.restart()
        assert await platform.register() == [401, 200]

        async def error_is(prefix: str) -> bool:
            return ((await _inventory(catalog)).last_error or "").startswith(prefix)

        await eventually(lambda: error_is("catalog incomplete: 18 of 22 items in "), within=5.0)
        assert len(platform.queries) == 2
        assert await statuses(catalog) == {"online": 19, "offline": 1}

        platform.lose_pieces, platform.items = 0, []
        platform.restart()
        assert await platform.register() == [401, 200]
        await eventually(lambda: error_is("the platform's catalog is empty"), within=5.0)
        assert await statuses(catalog) == {"online": 19, "offline": 1}
        assert (await _inventory(catalog)).last_count == 20
