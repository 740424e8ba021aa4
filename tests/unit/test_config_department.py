"""Every rule of a department file has a test asserting the exact ``FILE:LINE PATH: message``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from config import ConfigInvalid, load_config

GRID = """\
{"type": "FeatureCollection", "features": [
  {"type": "Feature",
   "properties": {"grid_id": "430203001001", "name": "向阳社区网格", "community": "向阳社区",
                  "street": "建宁街道"},
   "geometry": {"type": "Polygon",
                "coordinates": [[[113.1, 27.8], [113.2, 27.8], [113.2, 27.9], [113.1, 27.8]]]}}
]}
"""

# line 1..7; tests append cameras or inventories below and count lines from 8
HEAD = """\
department: {id: water, name: 芦淞区水务局}
defaults:
  crs: wgs84
  interval: 5m
  timeout: 10s
  auth: {scheme: basic, username: viewer, password: "${WATER_PW}"}
cameras:
"""
CAMERA = """\
  - id: "c1"
    name: 泵站
    snapshot: {kind: http, url: "http://cam.example/snap.jpg"}
"""
ENV = {"WATER_PW": "pw"}


def check(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    (tmp_path / "grids").mkdir(exist_ok=True)
    (tmp_path / "grids" / "g.geojson").write_text(GRID, encoding="utf-8")
    (tmp_path / "departments").mkdir(exist_ok=True)
    (tmp_path / "departments" / "water.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigInvalid) as info:
        load_config(tmp_path, env=ENV if env is None else env)
    return [str(issue) for issue in info.value.issues]


F = "departments/water.yaml"


def test_the_base_file_is_valid(tmp_path: Path) -> None:
    (tmp_path / "departments").mkdir()
    (tmp_path / "departments" / "water.yaml").write_text(HEAD + CAMERA, encoding="utf-8")
    (camera,) = load_config(tmp_path, env=ENV).departments[0].cameras
    assert (camera.uid, camera.line, camera.address, camera.tags) == ("water:c1", 8, "", ())


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    text = HEAD.replace("  interval: 5m", "  intervall: 5m") + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:4 defaults.intervall: unknown field 'intervall'; did you mean 'interval'?"
    ]


def test_unknown_field_without_a_close_match(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "    colour: red\n"
    assert check(tmp_path, text) == [f"{F}:11 cameras[0].colour: unknown field 'colour'"]


def test_unknown_top_level_section(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "inventory: []\n"
    assert check(tmp_path, text) == [
        f"{F}:11 inventory: unknown field 'inventory'; did you mean 'inventories'?"
    ]


def test_missing_required_field_points_at_the_parent(tmp_path: Path) -> None:
    text = HEAD + CAMERA.replace("    name: 泵站\n", "")
    assert check(tmp_path, text) == [f"{F}:8 cameras[0].name: field required"]


def test_missing_department_section(tmp_path: Path) -> None:
    text = HEAD.replace("department: {id: water, name: 芦淞区水务局}\n", "") + CAMERA
    assert check(tmp_path, text) == [f"{F}:1 department: field required"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "a duration needs a unit, e.g. 5s or 5m"),
        (
            "5 minutes",
            "'5 minutes' is not a duration; write a number and a unit, e.g. 500ms, 10s,"
            " 5m, 1h or 90d",
        ),
        ("0s", "should be longer than zero"),
    ],
)
def test_bad_duration(tmp_path: Path, value: str, message: str) -> None:
    text = HEAD.replace("interval: 5m", f"interval: {value}") + CAMERA
    assert check(tmp_path, text) == [f"{F}:4 defaults.interval: {message}"]


def test_bad_crs(tmp_path: Path) -> None:
    text = HEAD.replace("crs: wgs84", "crs: WGS-84") + CAMERA
    assert check(tmp_path, text) == [f"{F}:3 defaults.crs: should be 'wgs84', 'gcj02' or 'bd09'"]


def test_numeric_id_must_be_quoted(tmp_path: Path) -> None:
    text = HEAD + CAMERA.replace('id: "c1"', "id: 43020300001320000001")
    assert check(tmp_path, text) == [f"{F}:8 cameras[0].id: ids must be quoted strings"]


@pytest.mark.parametrize("bad", ['"a b"', '"水务1"', f'"{"x" * 65}"', '""'])
def test_camera_id_characters(tmp_path: Path, bad: str) -> None:
    text = HEAD + CAMERA.replace('"c1"', bad)
    assert check(tmp_path, text) == [
        f"{F}:8 cameras[0].id: should be 1 to 64 letters, digits, '_' or '-'"
    ]


def test_department_id_characters(tmp_path: Path) -> None:
    text = HEAD.replace("id: water", "id: Water") + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:1 department.id: should be 1 to 32 lowercase letters, digits or '_'"
    ]


def test_duplicate_camera_id_points_at_the_second(tmp_path: Path) -> None:
    text = HEAD + CAMERA + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:11 cameras[1].id: camera id 'c1' is already used by cameras[0]"
    ]


def test_literal_password(tmp_path: Path) -> None:
    text = HEAD.replace('"${WATER_PW}"', "hunter2") + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:6 defaults.auth.password: a literal password is not allowed; use ${{ENV_VAR}}"
    ]


def test_password_must_be_a_whole_reference(tmp_path: Path) -> None:
    text = HEAD.replace('"${WATER_PW}"', '"x${WATER_PW}"') + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:6 defaults.auth.password: a literal password is not allowed; use ${{ENV_VAR}}"
    ]


def test_literal_password_in_a_camera_override_and_an_inventory(tmp_path: Path) -> None:
    text = (
        HEAD
        + CAMERA
        + "    auth: {scheme: digest, username: admin, password: 12345}\n"
        + "inventories:\n"
        + '  - {kind: gb28181, device_id: "43020300002000000002", password: secret, every: 1h}\n'
    )
    assert check(tmp_path, text) == [
        f"{F}:11 cameras[0].auth.password: a literal password is not allowed; use ${{ENV_VAR}}",
        f"{F}:13 inventories[0].password: a literal password is not allowed; use ${{ENV_VAR}}",
    ]


def test_unset_variable_is_named(tmp_path: Path) -> None:
    text = HEAD + CAMERA
    assert check(tmp_path, text, env={}) == [
        f"{F}:6 defaults.auth.password: environment variable WATER_PW is not set"
    ]


def test_unset_variable_is_reported_once(tmp_path: Path) -> None:
    text = HEAD + CAMERA.replace('"http://cam.example/snap.jpg"', '"${CAM_URL}"')
    assert check(tmp_path, text) == [
        f"{F}:10 cameras[0].snapshot.url: environment variable CAM_URL is not set"
    ]


def test_default_is_used_when_unset(tmp_path: Path) -> None:
    (tmp_path / "departments").mkdir()
    text = HEAD.replace("${WATER_PW}", "${WATER_PW:-fallback}") + CAMERA
    (tmp_path / "departments" / "water.yaml").write_text(text, encoding="utf-8")
    auth = load_config(tmp_path, env={}).departments[0].defaults.auth
    assert auth.password is not None
    assert auth.password.get_secret_value() == "fallback"


def test_substitution_in_any_string_keeps_special_characters(tmp_path: Path) -> None:
    (tmp_path / "departments").mkdir()
    text = HEAD + CAMERA.replace("泵站", '"${CAM_NAME} $${LITERAL}"')
    (tmp_path / "departments" / "water.yaml").write_text(text, encoding="utf-8")
    env = {"WATER_PW": "p@ss: w#rd\n\"'}${X}", "CAM_NAME": "泵站 #1: {east}"}
    config = load_config(tmp_path, env=env).departments[0]
    assert config.cameras[0].name == "泵站 #1: {east} ${LITERAL}"
    assert config.defaults.auth.password is not None
    assert config.defaults.auth.password.get_secret_value() == "p@ss: w#rd\n\"'}${X}"


def test_malformed_reference(tmp_path: Path) -> None:
    text = HEAD + CAMERA.replace("泵站", '"${1BAD}"')
    assert check(tmp_path, text) == [
        f"{F}:9 cameras[0].name: a '${{' must start a ${{NAME}} or ${{NAME:-default}} reference"
    ]


@pytest.mark.parametrize(
    ("snapshot", "path", "message"),
    [
        (
            '{kind: http, url: "rtsp://cam.example/1"}',
            "url",
            "URL scheme should be 'http' or 'https'",
        ),
        (
            '{kind: rtsp, url: "http://cam.example/1"}',
            "url",
            "URL scheme should be 'rtsp' or 'rtsps'",
        ),
        (
            '{kind: onvif, url: "ftp://cam.example/1"}',
            "url",
            "URL scheme should be 'http' or 'https'",
        ),
        ('{kind: http, url: "http:///snap.jpg"}', "url", "the URL needs a host name"),
        ('{kind: http, url: "http://cam.example/a b.jpg"}', "url", "a URL cannot contain spaces"),
        (
            '{kind: rtsp, url: "rtsp://admin:pw@cam.example/1"}',
            "url",
            "a user name or password in the URL is not allowed; use auth",
        ),
        (
            "{kind: ftp, url: x}",
            "kind",
            "unknown kind 'ftp'; should be one of 'http', 'rtsp', 'onvif', 'file'",
        ),
        ('{url: "http://cam.example/1"}', "kind", "field required"),
        ("http://cam.example/1", "-", "should be a mapping of 'field: value' lines"),
    ],
)
def test_snapshot_rules(tmp_path: Path, snapshot: str, path: str, message: str) -> None:
    text = HEAD + CAMERA.replace('{kind: http, url: "http://cam.example/snap.jpg"}', snapshot)
    where = "cameras[0].snapshot" + ("" if path == "-" else f".{path}")
    assert check(tmp_path, text) == [f"{F}:10 {where}: {message}"]


def test_file_snapshot_takes_a_path_not_a_url(tmp_path: Path) -> None:
    snapshot = "snapshot:\n      kind: file\n      url: /srv/images"
    text = HEAD + CAMERA.replace(
        'snapshot: {kind: http, url: "http://cam.example/snap.jpg"}', snapshot
    )
    assert check(tmp_path, text) == [
        f"{F}:10 cameras[0].snapshot.path: field required",
        f"{F}:12 cameras[0].snapshot.url: unknown field 'url'",
    ]


@pytest.mark.parametrize(
    ("location", "path", "message"),
    [
        ("{lon: 181, lat: 27.8}", "lon", "longitude should be between -180 and 180"),
        ("{lon: 113.1, lat: -91}", "lat", "latitude should be between -90 and 90"),
        ("{lon: 113.1, lat: .nan}", "lat", "latitude should be between -90 and 90"),
        ("{lon: east, lat: 27.8}", "lon", "should be a number"),
        ("{lon: 113.1}", "lat", "field required"),
    ],
)
def test_location_rules(tmp_path: Path, location: str, path: str, message: str) -> None:
    text = HEAD + CAMERA + f"    location: {location}\n"
    assert check(tmp_path, text) == [f"{F}:11 cameras[0].location.{path}: {message}"]


def test_auth_needs_credentials_for_basic_and_digest(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "    auth: {scheme: digest}\n"
    assert check(tmp_path, text) == [
        f"{F}:11 cameras[0].auth: digest auth needs a username and a password"
    ]


def test_auth_scheme(tmp_path: Path) -> None:
    text = HEAD.replace("scheme: basic", "scheme: ntlm") + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:6 defaults.auth.scheme: should be 'none', 'basic' or 'digest'"
    ]


def test_allow_networks_and_retention(tmp_path: Path) -> None:
    text = HEAD + "  allow_networks: [10.43.0.0/16, 10.0.0.300/8]\n  retention: forever\n"
    text = text.replace("cameras:\n", "") + "cameras:\n" + CAMERA
    assert check(tmp_path, text) == [
        f"{F}:7 defaults.allow_networks[1]: '10.0.0.300/8' is not an IP network, e.g. 10.0.0.0/8",
        f"{F}:8 defaults.retention: 'forever' is not a duration; write a number and a unit,"
        " e.g. 500ms, 10s, 5m, 1h or 90d",
    ]


def test_text_fields_refuse_numbers(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "    tags: [gate, 110]\n    address: 12\n"
    assert check(tmp_path, text) == [
        f"{F}:11 cameras[0].tags[1]: should be text; put the value in quotes",
        f"{F}:12 cameras[0].address: should be text; put the value in quotes",
    ]


def test_grid_reference_must_exist(tmp_path: Path) -> None:
    text = HEAD + CAMERA + '    grid: "430203009009"\n'
    assert check(tmp_path, text) == [
        f"{F}:11 cameras[0].grid: no grid file has a cell '430203009009'"
    ]


def test_grid_reference_must_be_quoted(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "    grid: 430203001001\n"
    assert check(tmp_path, text) == [f"{F}:11 cameras[0].grid: ids must be quoted strings"]


INVENTORY_MAP = "    map: {id: 编号, name: 名称}\n"


def test_inventory_csv_file_must_exist(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "inventories:\n  - kind: csv\n    path: 点位表.csv\n    every: 1h\n"
    assert check(tmp_path, text + INVENTORY_MAP) == [
        f"{F}:13 inventories[0].path: departments/点位表.csv does not exist"
    ]


def test_inventory_xlsx_path_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "departments" / "sheets").mkdir(parents=True)
    text = HEAD + CAMERA + "inventories:\n  - kind: xlsx\n    path: sheets\n    every: 1h\n"
    assert check(tmp_path, text + INVENTORY_MAP) == [
        f"{F}:13 inventories[0].path: departments/sheets is a folder, not a file"
    ]


def test_inventory_paths_resolve_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "departments").mkdir()
    (tmp_path / "departments" / "点位表.xlsx").write_bytes(b"")
    text = HEAD + CAMERA + "inventories:\n  - {kind: xlsx, path: 点位表.xlsx, every: 1h, "
    text += "sheet: 摄像头, map: {id: 编号}}\n"
    (tmp_path / "departments" / "water.yaml").write_text(text, encoding="utf-8")
    (inventory,) = load_config(tmp_path, env=ENV).departments[0].inventories
    assert inventory.kind == "xlsx"
    assert inventory.path == (tmp_path / "departments" / "点位表.xlsx").resolve()


def test_inventory_rules(tmp_path: Path) -> None:
    text = (
        HEAD
        + CAMERA
        + "inventories:\n"
        + '  - {kind: http_json, url: "http://platform.example/api", every: 1h, items: a..b,\n'
        + "     pages: {param: pageNo, size_param: pageSize, size: 0}, map: {name: cameraName}}\n"
        + '  - {kind: gb28181, device_id: "4302", password: "${GB_PW}", every: 1h, keepalive: 0s}\n'
        + "  - {kind: csv, path: a.csv, every: 1h, encoding: klingon, map: {id: 编号}}\n"
        + '  - {kind: onvif, url: "http://nvr.example/onvif", every: 1h, id: "a b"}\n'
        + "  - {kind: snmp}\n"
    )
    (tmp_path / "departments").mkdir()
    (tmp_path / "departments" / "a.csv").write_text("编号\n", encoding="utf-8")
    assert check(tmp_path, text, env={**ENV, "GB_PW": "x"}) == [
        f"{F}:12 inventories[0].items: should be a dotted path such as data.list",
        f"{F}:13 inventories[0].pages.size: should be greater than 0",
        f"{F}:13 inventories[0].map.id: field required",
        f"{F}:14 inventories[1].device_id: should be 20 digits",
        f"{F}:14 inventories[1].keepalive: should be longer than zero",
        f"{F}:15 inventories[2].encoding: unknown encoding 'klingon'",
        f"{F}:16 inventories[3].id: should be 1 to 64 letters, digits, '_' or '-'",
        f"{F}:17 inventories[4].kind: unknown kind 'snmp'; should be one of 'http_json', 'csv',"
        " 'xlsx', 'gb28181', 'onvif'",
    ]


def test_several_errors_in_one_file_are_all_reported(tmp_path: Path) -> None:
    text = (
        HEAD.replace("timeout: 10s", "timeout: 10")
        + CAMERA.replace('"c1"', "7")
        + "  - id: c2\n"
        + "    snapshot: {kind: http, url: 'http://cam.example/2'}\n"
        + "    grd: x\n"
    )
    assert check(tmp_path, text) == [
        f"{F}:5 defaults.timeout: a duration needs a unit, e.g. 10s or 10m",
        f"{F}:8 cameras[0].id: ids must be quoted strings",
        f"{F}:11 cameras[1].name: field required",
        f"{F}:13 cameras[1].grd: unknown field 'grd'; did you mean 'grid'?",
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "department: {id: water\n",
            2,
            "invalid YAML: expected ',' or '}', but got '<stream end>'"
            " (while parsing a flow mapping)",
        ),
        (
            "department:\n\t id: water\n",
            2,
            "invalid YAML: a tab cannot be used for indentation; use spaces",
        ),
        (
            "a: 1\n---\nb: 2\n",
            2,
            "invalid YAML: a file holds one document; remove the second '---'",
        ),
        (
            "cameras:\n  - id: a\n   name: b\n",
            3,
            "invalid YAML: expected <block end>, but found"
            " '<block mapping start>' (while parsing a block collection)",
        ),
    ],
)
def test_yaml_syntax_error(tmp_path: Path, text: str, line: int, message: str) -> None:
    assert check(tmp_path, text) == [f"{F}:{line} -: {message}"]


def test_empty_file_and_wrong_top_level(tmp_path: Path) -> None:
    assert check(tmp_path, "# nothing yet\n") == [f"{F}:1 -: the file is empty"]
    assert check(tmp_path, "- a\n- b\n") == [
        f"{F}:1 -: should be a mapping of 'field: value' lines"
    ]


def test_duplicate_key(tmp_path: Path) -> None:
    text = HEAD + CAMERA + "    name: 另一个名字\n"
    assert check(tmp_path, text) == [f"{F}:11 cameras[0].name: duplicate key 'name'"]


def test_yaml_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  - &base {id: c1, name: 泵站, snapshot: {kind: http, url: 'http://cam.example/1'}}\n"
        + "  - <<: *base\n    id: c2\n"
    )
    (tmp_path / "departments").mkdir()
    (tmp_path / "departments" / "water.yaml").write_text(text, encoding="utf-8")
    cameras = load_config(tmp_path, env=ENV).departments[0].cameras
    assert [(c.id, c.name) for c in cameras] == [("c1", "泵站"), ("c2", "泵站")]


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "departments").mkdir()
    (tmp_path / "departments" / "water.yaml").write_bytes("name: 水务局\n".encode("gb18030"))
    with pytest.raises(ConfigInvalid) as info:
        load_config(tmp_path, env={})
    assert [str(issue) for issue in info.value.issues] == [f"{F}:1 -: the file is not UTF-8 text"]
