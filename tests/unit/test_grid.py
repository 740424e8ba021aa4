"""Grid assignment: boundaries inclusive, ties to the lowest grid_id, vectorised = scalar."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from catalog.grid import GridCellLike, GridIndex


@dataclass(frozen=True)
class Cell:
    grid_id: str
    geometry: dict[str, Any]


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


def test_a_dataclass_is_a_grid_cell() -> None:
    cell: GridCellLike = Cell("a", polygon(square(0, 0, 1, 1)))
    assert GridIndex([cell]).assign(0.5, 0.5) == "a"


@pytest.mark.parametrize("order", [1, -1])
def test_shared_edge_goes_to_the_lowest_grid_id(order: int) -> None:
    cells = [Cell("G2", polygon(square(0, 0, 1, 1))), Cell("G1", polygon(square(1, 0, 2, 1)))]
    index = GridIndex(cells[::order])
    assert index.assign(0.5, 0.5) == "G2"
    assert index.assign(1.5, 0.5) == "G1"
    assert index.assign(1.0, 0.5) == "G1"  # the shared edge
    assert index.assign(1.0, 0.0) == "G1"  # an end of it
    assert index.assign(0.0, 0.5) == "G2"  # an outer edge counts as inside
    assert index.assign(0.0, 0.0) == "G2"  # an outer corner too


def test_string_order_not_numeric_order() -> None:
    index = GridIndex(
        [Cell("9", polygon(square(0, 0, 1, 1))), Cell("10", polygon(square(1, 0, 2, 1)))]
    )
    assert index.assign(1.0, 0.5) == "10"


def test_shared_vertex_goes_to_the_lowest_grid_id() -> None:
    cells = [
        Cell("c", polygon(square(0, 0, 1, 1))),
        Cell("d", polygon(square(1, 0, 2, 1))),
        Cell("b", polygon(square(0, 1, 1, 2))),
        Cell("e", polygon(square(1, 1, 2, 2))),
    ]
    index = GridIndex(cells)
    assert index.assign(1.0, 1.0) == "b"
    assert index.assign(1.5, 1.0) == "d"  # edge between d and e
    assert index.assign(1.0, 1.5) == "b"  # edge between b and e


def test_overlapping_cells_go_to_the_lowest_grid_id() -> None:
    index = GridIndex(
        [Cell("z", polygon(square(0, 0, 2, 2))), Cell("y", polygon(square(1, 1, 3, 3)))]
    )
    assert index.assign(1.5, 1.5) == "y"
    assert index.assign(0.5, 0.5) == "z"


def test_holes() -> None:
    outer, hole = square(0, 0, 1, 1), square(0.4, 0.4, 0.6, 0.6)
    with_hole = Cell("H", polygon(outer, hole[::-1]))
    alone = GridIndex([with_hole])
    assert alone.assign(0.5, 0.5) is None  # inside the hole
    assert alone.assign(0.4, 0.5) == "H"  # on the hole's boundary
    assert alone.assign(0.2, 0.2) == "H"

    filled = GridIndex([with_hole, Cell("Z", polygon(hole))])
    assert filled.assign(0.5, 0.5) == "Z"
    assert filled.assign(0.4, 0.5) == "H"  # shared by both: the lower id
    assert filled.assign(0.2, 0.2) == "H"


def test_multipolygon() -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [[square(0, 0, 1, 1)], [square(2, 0, 3, 1)]],
    }
    index = GridIndex([Cell("M", multi), Cell("N", polygon(square(1, 0, 2, 1)))])
    assert index.assign(0.5, 0.5) == "M"
    assert index.assign(2.5, 0.5) == "M"
    assert index.assign(1.5, 0.5) == "N"
    assert index.assign(1.0, 0.5) == "M"
    assert index.assign(3.5, 0.5) is None


@pytest.mark.parametrize(
    ("lon", "lat"), [(5.0, 5.0), (-0.0001, 0.5), (1.0, 1.0000001), (math.nan, 0.5), (math.inf, 0.5)]
)
def test_points_outside_every_cell(lon: float, lat: float) -> None:
    index = GridIndex([Cell("a", polygon(square(0, 0, 1, 1)))])
    assert index.assign(lon, lat) is None
    assert index.assign_many([(lon, lat)]) == [None]


def test_empty_index() -> None:
    index = GridIndex([])
    assert len(index) == 0
    assert index.assign(0.0, 0.0) is None
    assert index.assign_many([(0.0, 0.0)]) == [None]


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "not Polygon/MultiPolygon"),
        ({"type": "Polygon"}, "bad coordinates"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        (polygon([[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]), "invalid polygon"),
    ],
)
def test_bad_geometry_names_the_cell(geometry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"grid cell 'bad'.*{message}"):
        GridIndex([Cell("bad", geometry)])


def test_duplicate_grid_ids_are_rejected() -> None:
    cell = Cell("a", polygon(square(0, 0, 1, 1)))
    with pytest.raises(ValueError, match="duplicate grid_id 'a'"):
        GridIndex([cell, cell])


def _district_grid(nx: int = 12, ny: int = 10) -> tuple[GridIndex, list[float], list[float]]:
    """A grid over the district box; ids run against the geometry order on purpose."""
    xs = [113.0 + 0.3 * i / nx for i in range(nx + 1)]
    ys = [27.7 + 0.25 * j / ny for j in range(ny + 1)]
    cells = [
        Cell(f"4302-{(nx - i) * 100 + j:04d}", polygon(square(xs[i], ys[j], xs[i + 1], ys[j + 1])))
        for i in range(nx)
        for j in range(ny)
    ]
    return GridIndex(cells), xs, ys


def test_assign_many_agrees_with_assign() -> None:
    index, xs, ys = _district_grid()
    rng = np.random.default_rng(7)
    random_points = np.column_stack(
        [rng.uniform(112.95, 113.35, 3000), rng.uniform(27.65, 28.0, 3000)]
    )
    on_edges = [(x, float(y)) for x in xs for y in rng.uniform(27.7, 27.95, 5)]
    on_edges += [(float(x), y) for y in ys for x in rng.uniform(113.0, 113.3, 5)]
    vertices = [(x, y) for x in xs for y in ys]
    points = [(float(x), float(y)) for x, y in random_points] + on_edges + vertices
    points += [(math.nan, 27.8), (113.1, math.inf)]

    expected = [index.assign(x, y) for x, y in points]
    assert index.assign_many(points) == expected
    assert index.assign_many(np.array(points)) == expected
    assert index.assign_many(iter(points)) == expected
    assert any(e is None for e in expected)
    assert all(e is not None for e in expected[3000:-2])  # edges and vertices are inside


def test_assign_many_on_a_vertex_picks_the_lowest_of_four() -> None:
    index, xs, ys = _district_grid()
    x, y = xs[5], ys[5]
    around = {index.assign(x + dx, y + dy) for dx in (-1e-6, 1e-6) for dy in (-1e-6, 1e-6)}
    touching = {cell for cell in around if cell is not None}
    assert len(touching) == 4
    assert index.assign_many([(x, y)]) == [min(touching)]


def test_assign_many_shapes() -> None:
    index, _, _ = _district_grid()
    assert index.assign_many([]) == []
    assert index.assign_many(np.empty((0, 2))) == []
    with pytest.raises(ValueError, match="pairs"):
        index.assign_many(np.zeros((3, 3)))


def test_assign_many_200k_points() -> None:
    index, _, _ = _district_grid(16, 18)
    rng = np.random.default_rng(11)
    points = np.column_stack(
        [rng.uniform(112.95, 113.35, 200_000), rng.uniform(27.65, 28.0, 200_000)]
    )
    result = index.assign_many(points)
    assert len(result) == 200_000
    sample = range(0, 200_000, 997)
    assert [result[i] for i in sample] == [index.assign(*points[i]) for i in sample]
