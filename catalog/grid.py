"""Grid assignment: which grid cell (网格) a WGS-84 point falls in.

A :class:`GridIndex` holds the cell polygons in a shapely ``STRtree``. A point
belongs to every cell it *intersects* (interior or boundary), and when it
touches several -- a shared edge or vertex, or overlapping cells drawn by
hand -- it goes to the lowest ``grid_id`` in string order, so the answer never
depends on file order. Points in a hole belong to the cell only on the hole's
boundary.

The tree stores the cells sorted by ``grid_id``, so "lowest grid_id" is simply
"lowest tree index", which lets :meth:`GridIndex.assign_many` pick winners
for hundreds of thousands of points with a few numpy operations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import shape

__all__ = ["GridCellLike", "GridIndex"]


class GridCellLike(Protocol):
    """What :class:`GridIndex` needs of a cell: an id and a GeoJSON polygon."""

    @property
    def grid_id(self) -> str: ...

    @property
    def geometry(self) -> Mapping[str, Any]: ...


_POLYGONAL = ("Polygon", "MultiPolygon")


def _polygon(grid_id: str, geometry: Mapping[str, Any]) -> Any:
    """A valid shapely (Multi)Polygon from GeoJSON; ValueError naming the cell."""
    kind = geometry.get("type") if isinstance(geometry, Mapping) else None
    if kind not in _POLYGONAL:
        raise ValueError(
            f"grid cell {grid_id!r}: geometry type {kind!r} is not Polygon/MultiPolygon"
        )
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        raise ValueError(f"grid cell {grid_id!r}: bad coordinates: {exc}") from None
    if geom.is_empty:
        raise ValueError(f"grid cell {grid_id!r}: empty geometry")
    if not geom.is_valid:
        raise ValueError(f"grid cell {grid_id!r}: invalid polygon: {shapely.is_valid_reason(geom)}")
    return geom


class GridIndex:
    """A spatial index of grid cells answering "which cell is this point in"."""

    def __init__(self, cells: Iterable[GridCellLike]) -> None:
        by_id: dict[str, Any] = {}
        for cell in cells:
            grid_id = cell.grid_id
            if grid_id in by_id:
                raise ValueError(f"duplicate grid_id {grid_id!r}")
            by_id[grid_id] = _polygon(grid_id, cell.geometry)
        self._ids: list[str] = sorted(by_id)
        geoms = [by_id[i] for i in self._ids]
        # Prepared polygons make the exact point-in-polygon test after the
        # bounding-box hit cheap; the tree index is the rank in _ids.
        shapely.prepare(geoms)
        self._geoms: Sequence[Any] = geoms
        self._tree = shapely.STRtree(geoms)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def grid_ids(self) -> list[str]:
        """The cell ids, sorted."""
        return list(self._ids)

    def assign(self, lon: float, lat: float) -> str | None:
        """The lowest ``grid_id`` of the cells containing the point, or None.

        Boundaries count as inside. Non-finite coordinates give None.
        """
        if not (np.isfinite(lon) and np.isfinite(lat)) or not self._ids:
            return None
        point = shapely.Point(lon, lat)
        hits = self._tree.query(point, predicate="intersects")
        if len(hits) == 0:
            return None
        return self._ids[int(hits.min())]

    def assign_many(self, points: Iterable[tuple[float, float]]) -> list[str | None]:
        """:meth:`assign` for many ``(lon, lat)`` points at once, vectorised."""
        coords = np.asarray(points if isinstance(points, np.ndarray) else list(points))
        if coords.size == 0:
            return [None] * len(coords)
        if coords.ndim != 2 or coords.shape[1] != 2:
            raise ValueError(
                f"points must be (lon, lat) pairs, got an array of shape {coords.shape}"
            )
        coords = coords.astype(np.float64, copy=False)
        n = len(coords)
        # Non-finite points are left out of the query and so get None.
        finite = np.flatnonzero(np.isfinite(coords).all(axis=1))
        geoms = shapely.points(coords[finite])
        hit_point, hit_cell = self._tree.query(geoms, predicate="intersects")
        none_rank = len(self._ids)
        best = np.full(n, none_rank, dtype=np.int64)
        np.minimum.at(best, finite[hit_point], hit_cell)
        ids: list[str | None] = [*self._ids, None]
        return [ids[r] for r in best.tolist()]
