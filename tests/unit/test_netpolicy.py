"""`allow_networks`: which discovered snapshot URLs a department's answers may point camgrid at."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from catalog.netpolicy import NOT_ALLOWED, Network, url_allowed
from config import DefaultsSettings, DepartmentConfig
from ingest.inventory.base import InventoryResult, InventoryRow
from ingest.inventory.sync import cameras_from_result

NETWORKS: tuple[Network, ...] = (
    ipaddress.ip_network("10.43.0.0/16"),
    ipaddress.ip_network("192.168.10.0/24"),
    ipaddress.ip_network("fd00:43::/32"),
)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.43.1.2/ISAPI/Streaming/channels/101/picture",
        "https://10.43.255.255:8443/snap.jpg",
        "rtsp://192.168.10.7:554/h264",
        "http://[fd00:43::9]/snap.jpg",
        "http://[::ffff:10.43.0.1]/snap.jpg",  # IPv4-mapped: judged as the IPv4 address
    ],
)
def test_literal_addresses_inside_the_networks_are_allowed(url: str) -> None:
    assert url_allowed(url, NETWORKS)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.44.0.1/snap.jpg",
        "http://127.0.0.1:8080/api/v1/cameras",
        "http://169.254.169.254/latest/meta-data/",
        "http://cam-01.water.example/snap.jpg",  # a name: never resolved, never allowed
        "http://10.43.0.1.nip.io/snap.jpg",
        "http://10.43.0.1@evil.example/snap.jpg",  # userinfo is not the host
        "http://0x0a2b0001/snap.jpg",  # 10.43.0.1 spelled in hex
        "http://168493057/snap.jpg",  # and as one decimal number
        "http://010.043.000.001/snap.jpg",  # and with leading zeros
        "http://[fd01::1]/snap.jpg",
        "http://[::1]/snap.jpg",
        "http://[fd00:43::1/snap.jpg",  # unparseable
        "not a url",
        "",
    ],
)
def test_everything_else_is_refused_when_networks_are_listed(url: str) -> None:
    assert not url_allowed(url, NETWORKS)


def test_no_networks_means_no_policy() -> None:
    assert url_allowed("http://cam.example/snap.jpg", ())
    assert url_allowed("http://127.0.0.1/snap.jpg", [])


def test_an_inventory_row_outside_the_networks_becomes_a_problem() -> None:
    department = DepartmentConfig(
        id="water",
        name="水务局",
        file=Path("/config/departments/water.yaml"),
        defaults=DefaultsSettings.model_validate({"allow_networks": ["10.43.0.0/16"]}),
        cameras=(),
        inventories=(),
    )
    result = InventoryResult(
        rows=[
            InventoryRow(id="in", name="in", snapshot_url="http://10.43.0.5/snap.jpg"),
            InventoryRow(id="out", name="out", snapshot_url="http://203.0.113.9/snap.jpg"),
            InventoryRow(id="named", name="named", snapshot_url="http://cam.example/a.jpg"),
            InventoryRow(id="none", name="no snapshot"),
        ]
    )
    cameras, problems = cameras_from_result(department, result, "平台")
    assert [camera.id for camera in cameras] == ["in", "none"]
    assert [(p.where, p.message) for p in problems] == [
        ("平台 id out", NOT_ALLOWED),
        ("平台 id named", NOT_ALLOWED),
    ]
