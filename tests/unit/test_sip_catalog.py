"""Catalog reassembly, notifications, and the cameras a catalog makes (gb28181.device_catalog)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from config import NO_SNAPSHOT, DefaultsSettings, DepartmentConfig
from ingest.gb28181.device_catalog import (
    CatalogAssembly,
    DeviceCatalog,
    camera_status,
    cameras_from_catalog,
    item_role,
)
from ingest.gb28181.manscdp import CatalogItem, ManscdpMessage
from ingest.gb28181.platforms import platform_specs
from ingest.gb28181.report import gb28181_id_problems
from tests.fixtures.gb_platform import gb_config

PLATFORM = "43020300002000000002"
GROUP = "43020300002150000001"  # business group
ORG = "43020300002160000001"  # virtual organisation
NVR = "43020300001180000001"


def camera_id(n: int) -> str:
    return f"430203000013200{n:05d}"


def department(crs: str = "wgs84") -> DepartmentConfig:
    return DepartmentConfig(
        id="police",
        name="公安分局",
        file=Path("/config/departments/police.yaml"),
        defaults=DefaultsSettings.model_validate({"crs": crs}),
        cameras=(),
        inventories=(),
    )


def response(sn: int, sum_num: int, items: list[CatalogItem]) -> ManscdpMessage:
    return ManscdpMessage("Response", "Catalog", sn, PLATFORM, sum_num=sum_num, items=tuple(items))


def test_item_roles() -> None:
    assert item_role(camera_id(1)) == "camera"
    assert item_role("43020300001310000001") == "camera"  # 131: analogue camera
    for group in (GROUP, ORG, NVR, PLATFORM, "43", "4302", "430203", "43020300"):
        assert item_role(group) == "group"
    assert item_role("43020300001340000001") == "other"  # alarm input
    assert item_role("not-an-id") == "other"


def test_an_answer_in_pieces_out_of_order_with_duplicates_completes_at_sumnum() -> None:
    items = [CatalogItem(camera_id(n), name=f"摄像机{n}") for n in range(500)]
    pieces = [items[start : start + 10] for start in range(0, 500, 10)]
    order = pieces + random.Random(7).sample(pieces, 5)  # five pieces twice
    random.Random(3).shuffle(order)
    assembly = CatalogAssembly(sn=5, started_at=0.0)
    for count, piece in enumerate(order):
        assert not assembly.complete
        assembly.add(response(5, 500, piece), float(count))
        if len(assembly.items) == 500:
            break
    assert assembly.complete
    assert assembly.messages >= 50
    assert assembly.describe().startswith("500 of 500 items in ")


def test_notifications_before_the_first_answer_wait_for_it() -> None:
    catalog = DeviceCatalog()
    early = catalog.apply([CatalogItem(camera_id(2), event="OFF")])
    assert not early.resync
    assert not early.status_ids
    catalog.replace(
        [CatalogItem(camera_id(1), status="ON"), CatalogItem(camera_id(2), status="ON")]
    )
    assert catalog.items is not None
    assert catalog.items[camera_id(2)].status == "OFF"


def test_notifications_add_update_delete_and_switch() -> None:
    catalog = DeviceCatalog()
    catalog.replace([CatalogItem(camera_id(1), name="一号", model="A", status="ON")])
    change = catalog.apply(
        [
            CatalogItem(camera_id(2), name="二号", status="ON", event="ADD"),
            CatalogItem(camera_id(1), name="一号门", event="UPDATE"),
            CatalogItem(camera_id(2), event="OFF"),
            CatalogItem(camera_id(9), event="DEL"),  # unknown: nothing to do
        ]
    )
    assert change.resync
    assert change.status_ids == {camera_id(2)}
    assert catalog.items is not None
    assert catalog.items[camera_id(1)].name == "一号门"
    assert catalog.items[camera_id(1)].model == "A"  # an UPDATE without a model keeps it
    assert catalog.items[camera_id(2)].status == "OFF"
    assert catalog.items[camera_id(2)].event == ""
    status_only = catalog.apply([CatalogItem(camera_id(1), event="VLOST")])
    assert not status_only.resync
    assert catalog.apply([CatalogItem(camera_id(1), event="DEL")]).resync
    assert camera_id(1) not in catalog.items


def test_cameras_from_a_catalog_with_groups_snapshots_and_bad_items() -> None:
    items = {
        item.device_id: item
        for item in [
            CatalogItem(GROUP, name="治安监控"),
            CatalogItem(ORG, name="芦淞区", parent_id=PLATFORM, business_group_id=GROUP),
            CatalogItem(NVR, name="一号NVR", parent_id=ORG),
            CatalogItem(
                camera_id(1),
                name="建设路口",
                address="建设路",
                manufacturer="海康威视",
                parent_id=f"{NVR}/{ORG}",
                longitude=113.15,
                latitude=27.83,
                snapshot_url="http://10.0.0.9/ISAPI/Streaming/channels/101/picture",
            ),
            CatalogItem(camera_id(2), name="", parent_id=ORG, snapshot_url="rtsp://10.0.0.9/s1"),
            CatalogItem(camera_id(3), name="半个坐标", longitude=113.15),
            CatalogItem(camera_id(4), name="坏地址", snapshot_url="http://user:pw@10.0.0.9/x"),
            CatalogItem("43020300001340000001", name="报警输入"),
        ]
    }
    found = cameras_from_catalog(department("gcj02"), PLATFORM, items)
    by_id = {camera.id: camera for camera in found.cameras}
    assert sorted(by_id) == [camera_id(1), camera_id(2), camera_id(3)]
    first = by_id[camera_id(1)]
    assert (first.uid, first.name, first.address) == (
        "police:" + camera_id(1),
        "建设路口",
        "建设路",
    )
    assert (first.location, first.crs, first.snapshot_kind) == ((113.15, 27.83), "gcj02", "http")
    assert first.tags == ("一号NVR", "芦淞区", "治安监控")
    assert by_id[camera_id(2)].snapshot_kind == "rtsp"
    assert by_id[camera_id(2)].name == camera_id(2)  # no name: the id
    assert by_id[camera_id(3)].location is None  # one coordinate is none
    assert by_id[camera_id(3)].snapshot_kind == NO_SNAPSHOT
    assert found.details[first.uid]["manufacturer"] == "海康威视"
    assert found.details[first.uid]["platform"] == PLATFORM
    assert found.details[first.uid]["groups"] == ["一号NVR", "芦淞区", "治安监控"]
    assert len(found.problems) == 1
    assert "user name or password" in found.problems[0]


def test_circular_parents_end() -> None:
    items = {
        ORG: CatalogItem(ORG, name="甲", parent_id=GROUP),
        GROUP: CatalogItem(GROUP, name="乙", parent_id=ORG),
        camera_id(1): CatalogItem(camera_id(1), name="c", parent_id=ORG),
    }
    assert cameras_from_catalog(department(), PLATFORM, items).cameras[0].tags == ("甲", "乙")


def test_camera_status() -> None:
    on, off = CatalogItem(camera_id(1), status="ON"), CatalogItem(camera_id(1), status="OFFLINE")
    assert camera_status(on, None) == ("online", "platform reports ON")
    assert camera_status(off, None) == ("offline", "device reports OFF")
    assert camera_status(CatalogItem(camera_id(1), status="VLOST"), None) == (
        "degraded",
        "device reports VLOST",
    )
    assert camera_status(on, "platform offline: 3 keepalives missed") == (
        "offline",
        "platform offline: 3 keepalives missed",
    )


def test_validate_flags_ids_that_cannot_register() -> None:
    loaded = gb_config(
        platforms=[
            (PLATFORM, "a"),
            (PLATFORM, "b"),
            ("43020300002000000001", "c"),  # camgrid's own id
            ("43020300001110000001", "d"),  # a DVR may register
        ]
    )
    assert gb28181_id_problems(loaded) == [
        f"police.yaml inventories[1].device_id: {PLATFORM} is already listed by police",
        "police.yaml inventories[2].device_id: 43020300002000000001 is camgrid's own id",
    ]
    assert set(platform_specs(loaded)) == {PLATFORM, "43020300002000000001", "43020300001110000001"}
    assert platform_specs(loaded)[PLATFORM].settings.password.get_secret_value() == "a"
    own = loaded.settings.gb28181
    assert own is not None
    wrong = replace(
        loaded,
        settings=loaded.settings.model_copy(
            update={"gb28181": own.model_copy(update={"id": "43020300001320000001"})}
        ),
    )
    assert gb28181_id_problems(wrong)[0] == (
        "camgrid.toml gb28181.id: type code 132 (网络摄像机IPC); "
        "an upper platform's id has type 200"
    )
