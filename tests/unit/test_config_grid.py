"""Grid files: GeoJSON shape checks, line numbers, and grid ids unique across files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config import ConfigInvalid, load_config

DEPARTMENT = """\
department: {id: water, name: 水务局}
cameras:
  - {id: c1, name: 泵站, snapshot: {kind: http, url: "http://cam.example/1"}, grid: "g1"}
"""


def feature(grid_id: object, ring: list[list[float]] | None = None, **extra: object) -> str:
    ring = ring or [[113.1, 27.8], [113.2, 27.8], [113.2, 27.9], [113.1, 27.9], [113.1, 27.8]]
    properties = {"grid_id": grid_id, "name": "网格", "community": "向阳社区", "street": "建宁街道"}
    properties.update(extra)
    geometry = {"type": "Polygon", "coordinates": [ring]}
    return (
        '    {"type": "Feature",\n'
        f'     "properties": {json.dumps(properties, ensure_ascii=False)},\n'
        f'     "geometry": {json.dumps(geometry)}}}'
    )


def collection(*features: str) -> str:
    return '{"type": "FeatureCollection",\n  "features": [\n' + ",\n".join(features) + "\n]}\n"


def setup(root: Path, grids: dict[str, str]) -> None:
    (root / "departments").mkdir(exist_ok=True)
    (root / "departments" / "water.yaml").write_text(DEPARTMENT, encoding="utf-8")
    (root / "grids").mkdir(exist_ok=True)
    for name, text in grids.items():
        (root / "grids" / name).write_text(text, encoding="utf-8")


def problems(root: Path, grids: dict[str, str]) -> list[str]:
    setup(root, grids)
    with pytest.raises(ConfigInvalid) as info:
        load_config(root, env={})
    return [str(issue) for issue in info.value.issues]


def test_cells_load_with_their_geometry(tmp_path: Path) -> None:
    setup(tmp_path, {"a.geojson": collection(feature("g1"), feature("g2", extra_property=1))})
    config = load_config(tmp_path, env={})
    assert [(c.grid_id, c.community, c.street, c.file) for c in config.grid_cells] == [
        ("g1", "向阳社区", "建宁街道", "grids/a.geojson"),
        ("g2", "向阳社区", "建宁街道", "grids/a.geojson"),
    ]
    assert config.grid_cells[0].geometry["type"] == "Polygon"
    assert config.departments[0].cameras[0].grid == "g1"


def test_duplicate_grid_id_across_files_points_at_the_second(tmp_path: Path) -> None:
    grids = {
        "a.geojson": collection(feature("g1")),
        "b.geojson": collection(feature("g2"), feature("g1")),
    }
    assert problems(tmp_path, grids) == [
        "grids/b.geojson:7 features[1].properties.grid_id: grid_id 'g1' is already used at"
        " grids/a.geojson:4",
    ]


def test_ring_must_be_closed_and_long_enough(tmp_path: Path) -> None:
    open_ring = [[113.1, 27.8], [113.2, 27.8], [113.2, 27.9], [113.1, 27.9]]
    short = [[113.1, 27.8], [113.2, 27.8], [113.1, 27.8]]
    grids = {"a.geojson": collection(feature("g1", open_ring), feature("g2", short))}
    assert problems(tmp_path, grids) == [
        "grids/a.geojson:5 features[0].geometry.coordinates[0]: a ring should end at the"
        " position where it starts",
        "grids/a.geojson:8 features[1].geometry.coordinates[0]: a ring needs at least 4 positions",
    ]


def test_positions_are_checked(tmp_path: Path) -> None:
    ring = [[113.1, 27.8], [213.2, 27.8], [113.2], [113.1, 97.9], [113.1, 27.8]]
    assert problems(tmp_path, {"a.geojson": collection(feature("g1", ring))}) == [
        "grids/a.geojson:5 features[0].geometry.coordinates[0][1]: longitude should be between"
        " -180 and 180",
        "grids/a.geojson:5 features[0].geometry.coordinates[0][2]: should be [longitude, latitude]",
        "grids/a.geojson:5 features[0].geometry.coordinates[0][3]: latitude should be between"
        " -90 and 90",
    ]


def test_properties_are_required_strings(tmp_path: Path) -> None:
    text = collection(feature(430203001001), feature("g1")).replace(', "street": "建宁街道"', "", 1)
    assert problems(tmp_path, {"a.geojson": text}) == [
        "grids/a.geojson:4 features[0].properties.grid_id: ids must be quoted strings",
        "grids/a.geojson:4 features[0].properties.street: field required",
    ]


def test_only_polygons(tmp_path: Path) -> None:
    text = collection(feature("g1")).replace(
        '"type": "Polygon", "coordinates": [', '"type": "Point", "coordinates": [', 1
    )
    assert problems(tmp_path, {"a.geojson": text}) == [
        "grids/a.geojson:5 features[0].geometry.type: unknown type 'Point'; should be one of"
        " 'Polygon', 'MultiPolygon'",
    ]


def test_multipolygon_is_accepted(tmp_path: Path) -> None:
    ring = [[113.1, 27.8], [113.2, 27.8], [113.2, 27.9], [113.1, 27.8]]
    geometry = {"type": "MultiPolygon", "coordinates": [[ring], [ring]]}
    text = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"grid_id": "g1", "name": "n", "community": "c", "street": "s"},
                    "geometry": geometry,
                }
            ],
        },
        indent="\t",
    )
    setup(tmp_path, {"a.geojson": text})
    assert load_config(tmp_path, env={}).grid_cells[0].geometry == geometry


def test_not_a_feature_collection(tmp_path: Path) -> None:
    assert problems(tmp_path, {"a.geojson": '{"type": "Feature"}'}) == [
        "departments/water.yaml:3 cameras[0].grid: no grid file has a cell 'g1'",
        "grids/a.geojson:1 type: should be 'FeatureCollection'",
        "grids/a.geojson:1 features: field required",
    ]


def test_json_syntax_error(tmp_path: Path) -> None:
    text = collection(feature("g1")).replace('"Feature",', '"Feature"', 1)
    assert problems(tmp_path, {"a.geojson": text}) == [
        "departments/water.yaml:3 cameras[0].grid: no grid file has a cell 'g1'",
        "grids/a.geojson:4 -: invalid JSON: Expecting ',' delimiter",
    ]


def test_a_grid_id_in_a_broken_file_still_counts_for_references(tmp_path: Path) -> None:
    text = collection(feature("g1")).replace('"name": "网格", ', "", 1)
    assert problems(tmp_path, {"a.geojson": text}) == [
        "grids/a.geojson:4 features[0].properties.name: field required",
    ]
