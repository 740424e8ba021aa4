"""The two layers of a camera's metadata, and operators' overrides.

`Camera.reported` is what the camera's source said (name, address, location as
written with its CRS, grid); `Camera.override` is an operator's correction of
name, location or grid, which no sync ever touches. The plain columns (`name`,
`lon`, `grid_id`, …) hold the effective value -- the override over the reported
one -- so searches need no merging.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crs import CRS_NAMES, to_wgs84
from catalog.grid import GridIndex
from catalog.models import Camera, CameraStatusEvent, GridCell
from config import CameraConfig

OVERRIDE_FIELDS = ("name", "location", "grid")
"""What an operator may override; a sync never changes these choices."""

GridAssign = Callable[[float, float], str | None]
"""Which cell a WGS-84 point falls in (``GridIndex.assign``)."""


class UnknownCamera(LookupError):
    """No camera has this uid."""


class OverrideInvalid(ValueError):
    """An override the catalog refuses; the message names the field."""


def reported_layer(camera: CameraConfig, grid: GridIndex) -> dict[str, Any]:
    """What the source says of a camera: name, address, location (as written, with its CRS), grid.

    ``grid`` is the cell the source named, or else the one its location falls in;
    ``grid_named`` tells the two apart.
    """
    location: dict[str, Any] | None = None
    grid_id = camera.grid
    if camera.location is not None:
        lon, lat = camera.location
        location = {"lon": lon, "lat": lat, "crs": camera.crs}
        if grid_id is None:
            grid_id = grid.assign(*to_wgs84(camera.crs, lon, lat))
    return {
        "name": camera.name,
        "address": camera.address,
        "location": location,
        "grid": grid_id,
        "grid_named": camera.grid is not None,
    }


def effective_values(
    reported: Mapping[str, Any], override: Mapping[str, Any] | None, assign: GridAssign
) -> dict[str, Any]:
    """The searchable columns: each overridden field over the reported one.

    An overridden location moves the camera into the cell it falls in, unless
    the grid is overridden too. ``orig_crs`` is left out when there is no location.
    """
    override = override or {}
    location = override["location"] if "location" in override else reported.get("location")
    values: dict[str, Any] = {
        "name": override.get("name", reported["name"]),
        "address": reported.get("address", ""),
        "lon": None,
        "lat": None,
        "orig_lon": None,
        "orig_lat": None,
    }
    if location is not None:
        lon, lat = to_wgs84(location["crs"], location["lon"], location["lat"])
        values.update(lon=lon, lat=lat, orig_crs=location["crs"])
        values.update(orig_lon=location["lon"], orig_lat=location["lat"])
    if "grid" in override:
        values["grid_id"], values["grid_from_config"] = override["grid"], True
    elif "location" in override:
        lon, lat = values["lon"], values["lat"]
        values["grid_id"] = assign(lon, lat) if lon is not None else None
        values["grid_from_config"] = False
    else:
        values["grid_id"] = reported.get("grid")
        values["grid_from_config"] = bool(reported.get("grid_named"))
    return values


def camera_layers(row: Camera) -> dict[str, Any]:
    """Both layers of a camera for ``?layers=1``: ``source`` (reported) and ``override``."""
    reported = _reported_of(row)
    source = {key: reported.get(key) for key in ("name", "address", "location", "grid")}
    return {"source": source, "override": dict(row.override or {})}


def _reported_of(row: Camera) -> dict[str, Any]:
    """The reported layer; for a row synced before layers existed, its current columns."""
    if row.reported is not None:
        return dict(row.reported)
    location = None
    if row.orig_lon is not None and row.orig_lat is not None:
        location = {"lon": row.orig_lon, "lat": row.orig_lat, "crs": row.orig_crs}
    return {
        "name": row.name,
        "address": row.address,
        "location": location,
        "grid": row.grid_id,
        "grid_named": row.grid_from_config,
    }


def _number(value: Any, name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OverrideInvalid(f"location.{name}: should be a number")
    if not (math.isfinite(value) and -limit <= value <= limit):
        raise OverrideInvalid(f"location.{name}: should be between -{limit:g} and {limit:g}")
    return float(value)


def _checked_location(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise OverrideInvalid("location: should be an object {lon, lat, crs}")
    unknown = set(value) - {"lon", "lat", "crs"}
    if unknown:
        raise OverrideInvalid(f"location: unknown field {sorted(unknown)[0]!r}")
    crs = value.get("crs", "wgs84")
    if crs not in CRS_NAMES:
        raise OverrideInvalid(f"location.crs: should be one of {', '.join(CRS_NAMES)}")
    lon = _number(value.get("lon"), "lon", 180)
    lat = _number(value.get("lat"), "lat", 90)
    return {"lon": lon, "lat": lat, "crs": crs}


async def _checked_changes(session: AsyncSession, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes, validated; a None value means "drop this override"."""
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in OVERRIDE_FIELDS:
            raise OverrideInvalid(
                f"{key}: cannot be overridden (only {', '.join(OVERRIDE_FIELDS)})"
            )
        if value is None:
            checked[key] = None
        elif key == "name":
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 300:
                raise OverrideInvalid("name: should be 1 to 300 characters")
            checked[key] = value.strip()
        elif key == "location":
            checked[key] = _checked_location(value)
        else:
            if not isinstance(value, str) or await session.get(GridCell, value) is None:
                raise OverrideInvalid(f"grid: no grid cell {value!r}")
            checked[key] = value
    return checked


async def grid_of_point(session: AsyncSession, lon: float, lat: float) -> str | None:
    """The cell a WGS-84 point falls in, from the catalog's cells (lowest grid_id on an edge)."""
    candidates = (
        await session.scalars(
            select(GridCell).where(
                GridCell.min_lon <= lon,
                GridCell.max_lon >= lon,
                GridCell.min_lat <= lat,
                GridCell.max_lat >= lat,
            )
        )
    ).all()
    return GridIndex(candidates).assign(lon, lat) if candidates else None


async def _apply_override(
    session: AsyncSession,
    row: Camera,
    override: dict[str, Any],
    now: datetime,
    grid: GridIndex | None,
    what: str,
) -> Camera:
    reported = _reported_of(row)
    assigned: str | None = None
    if "location" in override and "grid" not in override:
        location = override["location"]
        point = to_wgs84(location["crs"], location["lon"], location["lat"])
        assigned = grid.assign(*point) if grid is not None else await grid_of_point(session, *point)
    values = effective_values(reported, override, lambda _lon, _lat: assigned)
    values.setdefault("orig_crs", row.orig_crs)
    for key, value in values.items():
        setattr(row, key, value)
    row.reported = reported
    row.override = override or None
    row.updated_at = now
    event = CameraStatusEvent(camera_uid=row.uid, at=now, status=row.status, reason=what[:200])
    session.add(event)
    return row


async def set_override(
    session: AsyncSession,
    uid: str,
    changes: Mapping[str, Any],
    now: datetime,
    *,
    grid: GridIndex | None = None,
) -> Camera:
    """Override name, location (``{lon, lat, crs}``, crs defaulting to wgs84) or grid.

    Merges into the camera's override (a ``None`` value drops that field's
    override, as in a JSON merge patch) and recomputes the effective columns; a
    later sync keeps it. Raises :class:`UnknownCamera` or :class:`OverrideInvalid`.
    The cell of an overridden location comes from `grid` if given, else the catalog.
    """
    row = await session.get(Camera, uid)
    if row is None:
        raise UnknownCamera(uid)
    checked = await _checked_changes(session, changes)
    override = {**(row.override or {}), **checked}
    override = {key: value for key, value in override.items() if value is not None}
    what = f"override: {', '.join(sorted(checked)) or 'nothing'}"
    return await _apply_override(session, row, override, now, grid, what)


async def clear_override(
    session: AsyncSession,
    uid: str,
    now: datetime,
    fields: Iterable[str] | None = None,
    *,
    grid: GridIndex | None = None,
) -> Camera:
    """Drop an operator's override (all of it, or only `fields`); the source's values apply."""
    row = await session.get(Camera, uid)
    if row is None:
        raise UnknownCamera(uid)
    dropped = set(OVERRIDE_FIELDS if fields is None else fields)
    unknown = dropped - set(OVERRIDE_FIELDS)
    if unknown:
        raise OverrideInvalid(f"{sorted(unknown)[0]}: cannot be overridden")
    override = {k: v for k, v in (row.override or {}).items() if k not in dropped}
    what = f"override cleared: {', '.join(sorted(dropped))}"
    return await _apply_override(session, row, override, now, grid, what)
