"""What a camera search reads of each camera, and what it makes of the rows.

Every page select starts with `(uid, lon, lat)`, which is all a search needs
to order, check and measure its rows; a `RowShape` names the columns after
them and builds its item from a row:

* `DETAIL`: the ORM `Camera` and its cell, as `CameraRow`s (a camera's own
  page, `layers=1`, tests);
* `rendered_shape(dialect)`: the list shape of a camera as JSON text from
  the database (`RenderedCamera`), every field but `location`, which depends
  on the `crs` asked for, and `community`, which is the camera's cell's. A
  page of a hundred cameras then costs Python one short row per camera
  instead of nineteen typed columns, two parsed times and a dict to encode;
* `wall_shape(dialect)`: a wall tile, the camera's name and status and its
  newest snapshot's id and time (`WallTile`), read in the same statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any, Final, Generic, NamedTuple, TypeVar

from sqlalchemy import (
    JSON,
    ColumnElement,
    LargeBinary,
    Select,
    String,
    Text,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import aliased

from catalog.models import Camera, GridCell, Snapshot
from catalog.queries.search_schema import LISTED_JSON

__all__ = [
    "DETAIL",
    "CameraPage",
    "CameraRow",
    "CellRef",
    "RenderedCamera",
    "RowShape",
    "WallTile",
    "rendered_shape",
    "rows_select",
    "wall_shape",
]

T = TypeVar("T")


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


class RenderedCamera(NamedTuple):
    """A camera's list shape as JSON text (every field but `community` and `location`),
    its cell's community, and its place.

    `json` is a JSON object as the database wrote it, as UTF-8 bytes (the
    answer is bytes too: read as text, a page of Chinese names was decoded
    and encoded again for nothing); `lon`/`lat` are WGS-84 (None when the
    camera has no location); `distance_m` is set under `near`.
    """

    uid: str
    lon: float | None
    lat: float | None
    json: bytes
    community: str | None
    distance_m: float | None = None


class WallTile(NamedTuple):
    """What a wall tile shows of a camera: its name and status, and its newest snapshot.

    `snapshot_id` and `captured_at` (RFC 3339 text, as `api.shapes.rfc3339`
    writes it) are None for a camera without snapshots.
    """

    uid: str
    name: str
    status: str
    snapshot_id: int | None
    captured_at: str | None


@dataclass(frozen=True)
class CameraPage(Generic[T]):
    """One page of cameras and the cursor of the next one (None on the last page)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, eq=False)
class RowShape(Generic[T]):
    """The columns a page reads after `(uid, lon, lat)`, and the item made of a row.

    `make(row, distance_m)` gets the whole row, key columns first.
    """

    columns: tuple[Any, ...]
    make: Callable[[Sequence[Any], float | None], T]
    with_cell: bool = True
    #: whether its rows hold ORM objects, which only a session reads
    orm: bool = False

    @cached_property
    def base(self) -> Select[Any]:
        """The select every page of this shape starts from (built once: selects are immutable)."""
        stmt = select(Camera.uid, Camera.lon, Camera.lat, *self.columns)
        if self.with_cell:
            stmt = stmt.outerjoin(GridCell, GridCell.grid_id == Camera.grid_id)
        return stmt


_CELL_COLUMNS: Final = (GridCell.grid_id, GridCell.name, GridCell.community, GridCell.street)


def _detail_row(row: Sequence[Any], distance_m: float | None) -> CameraRow:
    camera, grid_id, name, community, street = row[3:]
    cell = None if grid_id is None else CellRef(grid_id, name, community, street)
    return CameraRow(camera, cell, distance_m)


def _rendered_row(row: Sequence[Any], distance_m: float | None) -> RenderedCamera:
    uid, lon, lat, text, community = row
    return RenderedCamera(uid, lon, lat, text, community, distance_m)


def _wall_row(row: Sequence[Any], _distance_m: float | None) -> WallTile:
    uid, _lon, _lat, name, status, snapshot_id, captured_at = row
    return WallTile(uid, name, status, snapshot_id, captured_at)


DETAIL: Final = RowShape((Camera, *_CELL_COLUMNS), _detail_row, orm=True)


def rows_select(shape: RowShape[Any]) -> Select[Any]:
    """Cameras as `shape` reads them, `(uid, lon, lat)` first, joined to their cells if needed."""
    return shape.base


# The list shape rendered by the database (DESIGN.md, "A camera").


def _rfc3339(column: Any, dialect: str) -> ColumnElement[str]:
    """A stored time as `api.shapes.rfc3339` writes it: UTC, `T`, `Z`, microseconds unless zero.

    SQLite holds UTC text `YYYY-MM-DD HH:MM:SS.ffffff` (`UtcDateTime`);
    PostgreSQL a timestamptz. NULL stays NULL.
    """
    if dialect == "sqlite":
        text = func.replace(type_coerce(column, String), " ", "T")
    else:
        text = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US')
    return func.replace(text, ".000000", "") + "Z"


def _json_value(column: Any, *, empty: str | None = None) -> ColumnElement[Any]:
    """A JSON column embedded as JSON (PostgreSQL); with `empty`, JSON null and NULL read so."""
    if empty is None:
        return type_coerce(column, JSON)
    as_text = func.coalesce(func.nullif(cast(column, Text), "null"), empty)
    return cast(as_text, postgresql.JSON)


def _rendered_sql(engine_dialect: Dialect) -> str:
    """The SQL of a camera's list shape as a JSON object in UTF-8 bytes, for the engine's dialect.

    Every value but `community` (the cell's, read beside it) and `location`:
    the API adds both, `location` in the `crs` asked for, from the row's
    WGS-84 `lon`/`lat` (a float written by Python is the shortest text that
    reads back the same; the databases' JSON writes 15 digits).

    SQLite reads it as triggers wrote it with the camera (`cameras.listed_json`,
    migration 0008): writing it at every read cost two thirds of a page's
    statement. PostgreSQL writes it here (see migration 0008 for why).
    """
    if engine_dialect.name == "sqlite":
        return f"CAST(cameras.{LISTED_JSON} AS BLOB)"
    fields: dict[str, Any] = {
        "uid": Camera.uid,
        "department": Camera.department_id,
        "id": Camera.camera_id,
        "name": Camera.name,
        "address": Camera.address,
        "grid_id": Camera.grid_id,
        "kind": Camera.kind,
        "tags": _json_value(Camera.tags, empty="[]"),
        "status": Camera.status,
        "status_reason": Camera.status_reason,
        "status_since": _rfc3339(Camera.status_since, "postgresql"),
        "last_snapshot_at": _rfc3339(Camera.last_snapshot_at, "postgresql"),
        "gb28181": _json_value(Camera.gb28181),
    }
    pairs: list[Any] = []
    for key, value in fields.items():
        pairs += [literal_column(f"'{key}'"), value]
    expression = func.convert_to(cast(func.json_build_object(*pairs), Text), "UTF8")
    compiled = expression.compile(dialect=engine_dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


@cache
def wall_shape(dialect: Dialect) -> RowShape[WallTile]:
    """Cameras as wall tiles (see `WallTile`), for an engine's dialect.

    The newest snapshot comes from two correlated subqueries, each one probe
    of the `(camera_uid, captured_at, id)` index, evaluated only for the rows
    a page returns: its id (newest time, then highest id) and that time.
    """
    newer = aliased(Snapshot)
    newest_id = (
        select(newer.id)
        .where(newer.camera_uid == Camera.uid)
        .order_by(newer.captured_at.desc(), newer.id.desc())
        .limit(1)
        .correlate(Camera)
        .scalar_subquery()
    )
    newest_at = (
        select(func.max(newer.captured_at))
        .where(newer.camera_uid == Camera.uid)
        .correlate(Camera)
        .scalar_subquery()
    )
    columns = (Camera.name, Camera.status, newest_id, _rfc3339(newest_at, dialect.name))
    return RowShape(columns, _wall_row, with_cell=False)


@cache
def rendered_shape(dialect: Dialect) -> RowShape[RenderedCamera]:
    """Cameras as JSON text of their list shape (see `RenderedCamera`), for an engine's dialect.

    A literal column: a search builds its select on every request, and such
    a column costs it nothing to build or to look up in SQLAlchemy's
    statement cache.
    """
    column = literal_column(_rendered_sql(dialect), type_=LargeBinary)
    return RowShape((column, GridCell.community), _rendered_row)
