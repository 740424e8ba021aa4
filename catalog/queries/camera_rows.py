"""What a camera search answers with: rows of cameras and their cells, and pages of them.

A page of search results reads only the list shape's columns (`LISTED_COLUMNS`)
as plain rows (`ListedCamera`); a camera's detail and `layers=1` read the ORM
`Camera`. Either way a row becomes a `CameraRow`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Select, select

from catalog.models import Camera, GridCell

__all__ = [
    "LISTED_COLUMNS",
    "CameraPage",
    "CameraRow",
    "CellRef",
    "ListedCamera",
    "row_of",
    "rows_select",
    "uid_of",
]


@dataclass(frozen=True)
class CellRef:
    """The grid cell a camera lies in."""

    grid_id: str
    name: str
    community: str
    street: str


@dataclass(frozen=True)
class CameraRow:
    """A camera with its cell and, under `near`, its distance in metres."""

    camera: Camera
    cell: CellRef | None
    distance_m: float | None = None


@dataclass(frozen=True)
class CameraPage:
    """One page of cameras and the cursor of the next one (None on the last page)."""

    items: list[CameraRow]
    next_cursor: str | None


#: What the list shape of a camera reads (DESIGN.md, "A camera"); with
#: `detail=False` a page's cameras are `ListedCamera`s holding only these.
LISTED_COLUMNS: Final = (
    Camera.uid, Camera.department_id, Camera.camera_id, Camera.name, Camera.address,
    Camera.lon, Camera.lat, Camera.grid_id, Camera.kind, Camera.tags, Camera.status,
    Camera.status_reason, Camera.status_since, Camera.last_snapshot_at, Camera.gb28181,
)  # fmt: skip
_CELL_COLUMNS: Final = (GridCell.grid_id, GridCell.name, GridCell.community, GridCell.street)


class ListedCamera(NamedTuple):
    """A camera as a page of search results shows it: the `LISTED_COLUMNS`, nothing else.

    Read from plain rows, without the ORM's bookkeeping (most of the cost of
    a page); it stands in for a `Camera` wherever only those attributes are
    read, and any other attribute raises `AttributeError`.
    """

    uid: str
    department_id: str
    camera_id: str
    name: str
    address: str
    lon: float | None
    lat: float | None
    grid_id: str | None
    kind: str
    tags: list[str]
    status: str
    status_reason: str
    status_since: datetime
    last_snapshot_at: datetime | None
    gb28181: dict[str, Any] | None


_LISTED_WIDTH: Final = len(LISTED_COLUMNS)


def rows_select(detail: bool = True) -> Select[*tuple[Any, ...]]:
    """Cameras with their cells: ORM `Camera`s, or with `detail=False` plain listed columns."""
    if not detail:
        # The other columns (source layers, targets, leases) are most of a
        # row's bytes and JSON; a page of search results never shows them.
        plain = select(*LISTED_COLUMNS, *_CELL_COLUMNS)
        return plain.outerjoin(GridCell, GridCell.grid_id == Camera.grid_id)
    full = select(Camera, *_CELL_COLUMNS)
    return full.outerjoin(GridCell, GridCell.grid_id == Camera.grid_id)


def uid_of(row: Any) -> str:
    """The uid of a row of `rows_select` (either kind)."""
    first = row[0]
    return first if isinstance(first, str) else str(first.uid)


def row_of(row: Any, distance_m: float | None = None) -> CameraRow:
    if isinstance(row[0], str):
        # A ListedCamera answers for the list shape's attributes, as a Camera would.
        camera = cast(Camera, ListedCamera._make(row[:_LISTED_WIDTH]))
        grid_id, name, community, street = row[_LISTED_WIDTH:]
    else:
        camera, grid_id, name, community, street = row
    cell = None if grid_id is None else CellRef(grid_id, name, community, street)
    return CameraRow(camera, cell, distance_m)
