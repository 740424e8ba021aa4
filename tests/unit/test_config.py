"""The config package end to end: the examples load, defaults apply, every problem is reported."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from config import (
    INVENTORY_KINDS,
    SNAPSHOT_KINDS,
    AuthConfig,
    ConfigInvalid,
    ConfigIssue,
    CsvInventorySettings,
    DepartmentConfig,
    Gb28181InventorySettings,
    LoadedConfig,
    camera_from_inventory_row,
    load_config,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"

CELL = """\
{"type": "FeatureCollection", "features": [
  {"type": "Feature",
   "properties": {"grid_id": "430203001001", "name": "向阳社区网格", "community": "向阳社区",
                  "street": "建宁街道"},
   "geometry": {"type": "Polygon",
                "coordinates": [[[113.1, 27.8], [113.2, 27.8], [113.2, 27.9], [113.1, 27.8]]]}}
]}
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(root: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigInvalid) as info:
        load_config(root, env={} if env is None else env)
    return [str(issue) for issue in info.value.issues]


@pytest.fixture
def examples() -> LoadedConfig:
    return load_config(EXAMPLES, env={})


def department(config: LoadedConfig, department_id: str) -> DepartmentConfig:
    return next(d for d in config.departments if d.id == department_id)


def test_examples_load_with_five_departments(examples: LoadedConfig) -> None:
    ids = [d.id for d in examples.departments]
    assert ids == ["chengguan", "education", "police", "residential", "water"]
    counts = {d.id: len(d.cameras) for d in examples.departments}
    assert counts == {"chengguan": 8, "education": 5, "police": 6, "residential": 2, "water": 5}
    assert len(examples.grid_cells) >= 12
    assert examples.root == EXAMPLES


def test_examples_crs_and_auth_per_department(examples: LoadedConfig) -> None:
    crs = {d.id: {c.crs for c in d.cameras} for d in examples.departments}
    assert crs["chengguan"] == {"gcj02"}
    assert crs["water"] == {"wgs84"}
    assert crs["education"] == {"bd09"}
    chengguan = department(examples, "chengguan").cameras[0]
    assert chengguan.auth.scheme == "digest"
    assert chengguan.auth.password == SecretStr("changeme")
    assert department(examples, "water").cameras[0].auth.scheme == "basic"


def test_examples_cover_every_camera_location_with_a_cell(examples: LoadedConfig) -> None:
    lons = [p[0] for cell in examples.grid_cells for p in cell.geometry["coordinates"][0]]
    lats = [p[1] for cell in examples.grid_cells for p in cell.geometry["coordinates"][0]]
    for dep in examples.departments:
        for camera in dep.cameras:
            assert camera.location is not None
            lon, lat = camera.location
            assert min(lons) + 0.01 <= lon <= max(lons) - 0.01, camera.uid
            assert min(lats) + 0.01 <= lat <= max(lats) - 0.01, camera.uid


def test_examples_inventories_and_special_cameras(examples: LoadedConfig) -> None:
    (csv,) = department(examples, "residential").inventories
    assert isinstance(csv, CsvInventorySettings)
    assert csv.path == EXAMPLES / "departments" / "点位表.csv"
    assert csv.path.read_text(encoding="utf-8-sig").startswith("编号,名称,经度,纬度")
    (gb,) = department(examples, "police").inventories
    assert isinstance(gb, Gb28181InventorySettings)
    assert gb.keepalive.total_seconds() == 60
    kinds = {c.snapshot_kind for c in department(examples, "education").cameras}
    assert kinds == {"http", "rtsp"}
    water = department(examples, "water").cameras
    assert [c.grid for c in water if c.grid] == ["430203004001"]
    assert all(len(c.id) == 20 for c in department(examples, "police").cameras)


def test_camera_takes_defaults_and_its_own_overrides(examples: LoadedConfig) -> None:
    cameras = {c.id: c for c in department(examples, "chengguan").cameras}
    plain = cameras["43020300001320000001"]
    assert plain.uid == "chengguan:43020300001320000001"
    assert (plain.interval_s, plain.timeout_s) == (300.0, 10.0)
    assert plain.location == (113.1523, 27.8301)
    assert plain.tags == ("crossroad",)
    assert plain.snapshot_kind == "http"
    assert plain.snapshot_path is None
    assert plain.line == 15
    assert cameras["43020300001320000006"].interval_s == 60.0
    assert cameras["43020300001320000008"].timeout_s == 20.0


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    write(tmp_path, "grids/g.geojson", CELL)
    write(
        tmp_path,
        "departments/water.yaml",
        """\
        department: {id: water, name: 水务局}
        defaults:
          auth: {scheme: basic, username: u, password: "${PW}"}
        cameras:
          - id: c1
            name: 泵站
            snapshot: {kind: file, path: images/c1}
        """,
    )
    config = load_config(tmp_path, env={"PW": "s3cr3t: #'\"{}"})
    camera = config.departments[0].cameras[0]
    assert "s3cr3t" not in repr(config)
    assert camera.auth.password is not None
    assert camera.auth.password.get_secret_value() == "s3cr3t: #'\"{}"
    assert camera.snapshot_path == (tmp_path / "departments" / "images" / "c1").resolve()
    assert camera.location is None


def test_all_problems_of_all_files_are_reported_in_file_order(tmp_path: Path) -> None:
    write(tmp_path, "grids/g.geojson", CELL)
    write(
        tmp_path,
        "departments/a.yaml",
        """\
        department: {id: water, name: 水务局}
        defaults: {interval: soon}
        cameras:
          - {id: 12, name: x, snapshot: {kind: http, url: "http://cam.example/a.jpg"}}
        """,
    )
    write(
        tmp_path,
        "departments/b.yaml",
        """\
        department: {id: water, name: 另一个水务局}
        cameras:
          - {id: c1, name: x, snapshot: {kind: http, url: "ftp://cam.example/a.jpg"}}
          - {id: c1, name: y, snapshot: {kind: http, url: "http://cam.example/b.jpg"}}
        """,
    )
    write(tmp_path, "camgrid.toml", 'lease_seconds = "soon"\n')
    assert problems(tmp_path) == [
        "camgrid.toml:1 lease_seconds: should be a whole number",
        "departments/a.yaml:2 defaults.interval: 'soon' is not a duration; write a number and a"
        " unit, e.g. 500ms, 10s, 5m, 1h or 90d",
        "departments/a.yaml:4 cameras[0].id: ids must be quoted strings",
        "departments/b.yaml:1 department.id: department id 'water' is already used by"
        " departments/a.yaml",
        "departments/b.yaml:3 cameras[0].snapshot.url: URL scheme should be 'http' or 'https'",
        "departments/b.yaml:4 cameras[1].id: camera id 'c1' is already used by cameras[0]",
    ]


def test_missing_folder_and_empty_folder(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope") == [
        f"{(tmp_path / 'nope').as_posix()}:0 -: config folder not found"
    ]
    assert problems(tmp_path) == ["departments:0 -: no department files (*.yaml) found"]


def test_yml_files_are_not_silently_ignored(tmp_path: Path) -> None:
    write(tmp_path, "departments/a.yaml", "department: {id: a, name: 甲}\n")
    write(tmp_path, "departments/b.yml", "department: {id: b, name: 乙}\n")
    assert problems(tmp_path) == ["departments/b.yml:1 -: ignored: name department files *.yaml"]


def test_issue_prints_as_file_line_path_message() -> None:
    issue = ConfigIssue("departments/water.yaml", 42, "cameras[2].snapshot.url", "bad")
    assert str(issue) == "departments/water.yaml:42 cameras[2].snapshot.url: bad"
    assert str(ConfigInvalid([issue, issue])) == f"{issue}\n{issue}"


def test_camera_from_inventory_row_applies_defaults(examples: LoadedConfig) -> None:
    residential = department(examples, "residential")
    camera = camera_from_inventory_row(
        residential,
        id="yf-1001",
        name="远大小区南门",
        address="芦淞区建设南路",
        lon=113.1572,
        lat=27.8183,
        snapshot_url="http://yf-1001.residential.example/snap.jpg",
    )
    assert camera.uid == "residential:yf-1001"
    assert (camera.crs, camera.interval_s, camera.timeout_s) == ("gcj02", 600.0, 10.0)
    assert camera.auth == AuthConfig("basic", "wuye", SecretStr("changeme"))
    assert (camera.snapshot_kind, camera.location, camera.line) == ("http", (113.1572, 27.8183), 0)
    bare = camera_from_inventory_row(residential, id="gb-1", name="")
    assert (bare.snapshot_kind, bare.snapshot_url, bare.name, bare.location) == (
        "none",
        None,
        "gb-1",
        None,
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "a b"}, "camera id 'a b' should be 1 to 64 letters, digits, '_' or '-'"),
        ({"id": "x" * 65}, f"camera id '{'x' * 65}' should be 1 to 64 letters, digits, '_' or '-'"),
        ({"id": "c", "lon": 113.0}, "camera 'c': give both longitude and latitude, or neither"),
        (
            {"id": "c", "lon": 113.0, "lat": 95.0},
            "camera 'c': latitude 95.0 should be between -90 and 90",
        ),
        (
            {"id": "c", "snapshot_url": "ftp://h/x"},
            "camera 'c': URL scheme should be 'http' or 'https'",
        ),
        ({"id": "c", "snapshot_kind": "rtsp"}, "camera 'c': a rtsp camera needs a snapshot URL"),
    ],
)
def test_camera_from_inventory_row_rejects_bad_rows(
    examples: LoadedConfig, row: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        camera_from_inventory_row(department(examples, "water"), name="n", **row)


def test_kind_lists_follow_the_unions() -> None:
    assert SNAPSHOT_KINDS == ("http", "rtsp", "onvif", "file")
    assert INVENTORY_KINDS == ("http_json", "csv", "xlsx", "gb28181", "onvif")


def test_empty_sections_mean_nothing_there(tmp_path: Path) -> None:
    write(tmp_path, "departments/a.yaml", "department: {id: a, name: 甲}\ndefaults:\ncameras:\n")
    (dep,) = load_config(tmp_path, env={}).departments
    assert (dep.cameras, dep.inventories, dep.defaults.crs) == ((), (), "wgs84")
