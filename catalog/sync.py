"""Bring the catalog in line with the config folder and inventories.

Cameras are keyed by uid (`department:id`) and belong to one `source`
(`config`, or `inventory:N` for the department file's N-th inventory). A camera
that leaves its source is `retired`, never deleted: its snapshots and history
stay. A sync writes what the source reported (`Camera.reported`) and never
touches an operator's override (see `catalog.layers`, whose `set_override` and
`clear_override` are re-exported here); the searchable columns hold the
override over the reported value. Coordinates are converted to WGS-84 and the
original values are kept beside them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.gb28181 import decode_gb_id
from catalog.grid import GridIndex
from catalog.layers import (
    OVERRIDE_FIELDS,
    OverrideInvalid,
    UnknownCamera,
    camera_layers,
    clear_override,
    effective_values,
    reported_layer,
    set_override,
)
from catalog.models import Camera, CameraStatusEvent, Department, GridCell
from config import CameraConfig, DepartmentConfig, GridCellConfig

__all__ = [
    "OVERRIDE_FIELDS",
    "OverrideInvalid",
    "SyncReport",
    "UnknownCamera",
    "camera_layers",
    "camera_values",
    "clear_override",
    "public_target",
    "set_override",
    "sync_cameras",
    "sync_config",
    "sync_department",
    "sync_grid",
]

FIRST_POLL_SPREAD_S = 10.0  # new cameras get their first poll spread over this many seconds
# what kind of change each column is, for the reason of an "updated" status event
_CHANGE_NAMES = {
    "name": "name",
    "address": "address",
    "lon": "location",
    "lat": "location",
    "orig_crs": "location",
    "orig_lon": "location",
    "orig_lat": "location",
    "grid_id": "grid",
    "grid_from_config": "grid",
    "kind": "snapshot",
    "snapshot_target": "snapshot",
    "tags": "tags",
    "interval_s": "schedule",
    "timeout_s": "schedule",
    "gb28181": "id",
    "source": "source",
    "location": "location",  # of the reported layer
    "grid": "grid",
}


@dataclass
class SyncReport:
    """What a sync changed, for logs and the command line."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    revived: list[str] = field(default_factory=list)

    def extend(self, other: SyncReport) -> None:
        """Add another report's cameras to this one."""
        for name in ("added", "updated", "retired", "revived"):
            getattr(self, name).extend(getattr(other, name))


def public_target(camera: CameraConfig) -> str:
    """Where the camera's pictures come from, with any URL userinfo removed."""
    if camera.snapshot_url:
        parts = urlsplit(camera.snapshot_url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return str(camera.snapshot_path or "")


async def sync_grid(session: AsyncSession, cells: Sequence[GridCellConfig]) -> GridIndex:
    """Replace the grid cells with those of the config; return an index over them."""
    wanted = {cell.grid_id: cell for cell in cells}
    existing = {row.grid_id: row for row in (await session.scalars(select(GridCell))).all()}
    for grid_id in existing.keys() - wanted.keys():
        await session.delete(existing[grid_id])
    for grid_id, cell in wanted.items():
        min_lon, min_lat, max_lon, max_lat = shape(cell.geometry).bounds
        values: dict[str, Any] = {
            "name": cell.name,
            "community": cell.community,
            "street": cell.street,
            "geometry": cell.geometry,
            "min_lon": min_lon,
            "min_lat": min_lat,
            "max_lon": max_lon,
            "max_lat": max_lat,
        }
        row = existing.get(grid_id)
        if row is None:
            session.add(GridCell(grid_id=grid_id, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
    return GridIndex(cells)


def camera_values(
    camera: CameraConfig, grid: GridIndex, override: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The catalog columns a camera's source decides, with `override` applied, and `reported`."""
    reported = reported_layer(camera, grid)
    gb = decode_gb_id(camera.id)
    return {
        "department_id": camera.department,
        "camera_id": camera.id,
        "orig_crs": camera.crs,
        **effective_values(reported, override, grid.assign),
        "kind": camera.snapshot_kind,
        "snapshot_target": public_target(camera),
        "tags": list(camera.tags),
        "gb28181": gb.as_dict() if gb is not None else None,
        "interval_s": camera.interval_s,
        "timeout_s": camera.timeout_s,
        "reported": reported,
    }


async def sync_department(
    session: AsyncSession, department: DepartmentConfig, now: datetime
) -> None:
    """Insert or update the department row."""
    row = await session.get(Department, department.id)
    if row is None:
        session.add(
            Department(
                id=department.id,
                name=department.name,
                source_file=str(department.file),
                updated_at=now,
            )
        )
    else:
        row.name = department.name
        row.source_file = str(department.file)
        row.updated_at = now


def _status_event(uid: str, now: datetime, status: str, reason: str) -> CameraStatusEvent:
    return CameraStatusEvent(camera_uid=uid, at=now, status=status, reason=reason[:200])


def _reported_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> set[str]:
    if old is None:  # synced before layers existed: the columns tell what changed
        return set()
    return {key for key in ("name", "address", "location", "grid") if old.get(key) != new[key]}


def _change_reason(source: str, changed: Iterable[str]) -> str:
    kinds = sorted({_CHANGE_NAMES[key] for key in changed if key in _CHANGE_NAMES})
    return f"updated from {source}: {', '.join(kinds) or 'overridden fields'}"


async def sync_cameras(
    session: AsyncSession,
    department_id: str,
    source: str,
    cameras: Iterable[CameraConfig],
    grid: GridIndex,
    now: datetime,
    *,
    rng: random.Random | None = None,
) -> SyncReport:
    """Make the department's cameras of one `source` equal `cameras`.

    New cameras are added, changed ones updated (operators' overrides stay in
    force), and cameras of that source missing from `cameras` are retired; a
    retired camera that reappears comes back as `unknown` until it is polled.
    Every change writes a status event. Duplicate uids in `cameras`: the first wins.
    """
    rng = rng or random.Random()
    report = SyncReport()
    existing = {
        row.uid: row
        for row in (
            await session.scalars(
                select(Camera).where(Camera.department_id == department_id, Camera.source == source)
            )
        ).all()
    }
    seen: set[str] = set()
    for camera in cameras:
        if camera.uid in seen:
            continue
        seen.add(camera.uid)
        row = existing.get(camera.uid)
        if row is None:
            row = await session.get(Camera, camera.uid)  # moved here from another source
        if row is None:
            spread = min(FIRST_POLL_SPREAD_S, camera.interval_s)
            session.add(
                Camera(
                    uid=camera.uid,
                    source=source,
                    status="unknown",
                    status_reason="not polled yet",
                    status_since=now,
                    next_due_at=now + timedelta(seconds=rng.uniform(0, spread)),
                    created_at=now,
                    updated_at=now,
                    **camera_values(camera, grid),
                )
            )
            session.add(_status_event(camera.uid, now, "unknown", "added"))
            report.added.append(camera.uid)
            continue
        values = camera_values(camera, grid, row.override)
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if row.source != source:
            changed["source"] = source
        # name the source's changes even where an override hides them; filling in the
        # reported layer of a row synced before layers existed is no change
        what = (set(changed) - {"reported"}) | _reported_changes(row.reported, values["reported"])
        for key, value in changed.items():
            setattr(row, key, value)
        if changed:
            row.updated_at = now
        if row.status == "retired":
            row.status, row.status_reason, row.status_since = "unknown", "back in source", now
            row.next_due_at = now
            session.add(_status_event(row.uid, now, "unknown", "back in source"))
            report.revived.append(row.uid)
        elif what:
            reason = _change_reason(source, what)
            session.add(_status_event(row.uid, now, row.status, reason))
            report.updated.append(row.uid)
    for uid, row in existing.items():
        if uid not in seen and row.status != "retired":
            row.status, row.status_reason, row.status_since = "retired", f"left {source}", now
            row.updated_at = now
            session.add(_status_event(uid, now, "retired", f"left {source}"))
            report.retired.append(uid)
    return report


async def sync_config(
    session: AsyncSession,
    departments: Sequence[DepartmentConfig],
    cells: Sequence[GridCellConfig],
    now: datetime,
) -> SyncReport:
    """Sync departments, grid cells and the cameras written in department files."""
    grid = await sync_grid(session, cells)
    total = SyncReport()
    for department in departments:
        await sync_department(session, department, now)
    await session.flush()
    written = {department.id: department.cameras for department in departments}
    gone = await session.scalars(
        select(Camera.department_id).where(Camera.source == "config").distinct()
    )
    for department_id in set(gone.all()) - written.keys():
        written[department_id] = ()
    for department_id, cameras in written.items():
        total.extend(await sync_cameras(session, department_id, "config", cameras, grid, now))
    return total
