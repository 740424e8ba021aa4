"""Counts: cameras by status overall, by department and by grid cell; snapshot rates.

Every count of cameras has the same shape, `status_counts`: one key per
status plus `total`, which leaves retired cameras out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import CAMERA_STATUSES, Camera, Department, GridCell, Snapshot
from catalog.queries.search_schema import snapshot_tally

__all__ = [
    "camera_counts",
    "department_summaries",
    "get_grid",
    "grid_summaries",
    "stats",
    "status_counts",
]


def status_counts(by_status: dict[str, int] | None = None) -> dict[str, int]:
    """`{"total", "online", "degraded", "offline", "unknown", "retired"}` from counts by status.

    `total` is every camera but the retired ones; statuses outside the known
    ones still count in `total`.
    """
    by_status = by_status or {}
    counts = {"total": sum(n for s, n in by_status.items() if s != "retired")}
    counts.update({status: by_status.get(status, 0) for status in CAMERA_STATUSES})
    return counts


async def _counts_by(
    session: AsyncSession, column: Any, *where: ColumnElement[bool]
) -> dict[Any, dict[str, int]]:
    stmt = select(column, Camera.status, func.count()).where(*where)
    stmt = stmt.group_by(column, Camera.status)
    grouped: dict[Any, dict[str, int]] = defaultdict(dict)
    for key, status, n in (await session.execute(stmt)).all():
        grouped[key][status] = n
    return grouped


async def _department_counts(session: AsyncSession) -> list[dict[str, Any]]:
    counts = await _counts_by(session, Camera.department_id)
    departments = await session.execute(
        select(Department.id, Department.name).order_by(Department.id)
    )
    return [
        {"id": id_, "name": name, "cameras": status_counts(counts.get(id_))}
        for id_, name in departments.all()
    ]


async def stats(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """Cameras by status, snapshots in total and in the minute before `now`, departments."""
    overall = await session.execute(select(Camera.status, func.count()).group_by(Camera.status))
    # Kept by triggers (migration 0003): counting tens of millions of rows takes seconds.
    snapshots_total = await session.scalar(select(func.sum(snapshot_tally.c.n)))
    last_minute = await session.scalar(
        select(func.count())
        .select_from(Snapshot)
        .where(Snapshot.captured_at >= now - timedelta(minutes=1), Snapshot.captured_at <= now)
    )
    return {
        "cameras": status_counts({status: n for status, n in overall.all()}),
        "snapshots": {"total": int(snapshots_total or 0), "last_minute": last_minute or 0},
        "departments": await _department_counts(session),
    }


async def camera_counts(
    session: AsyncSession, now: datetime
) -> tuple[dict[tuple[str, str], int], int]:
    """Cameras by `(department, status)`, and how many are under a live poll lease at `now`."""
    by_department = await _counts_by(session, Camera.department_id)
    leased = await session.scalar(
        select(func.count()).select_from(Camera).where(Camera.lease_until > now)
    )
    counts = {
        (department, status): n
        for department, statuses in by_department.items()
        for status, n in statuses.items()
    }
    return counts, leased or 0


async def department_summaries(session: AsyncSession) -> list[dict[str, Any]]:
    """Each department: `id`, `name`, `cameras` (counts by status) and `inventories`.

    `inventories` is empty until the catalog records inventory syncs.
    """
    return [{**d, "inventories": []} for d in await _department_counts(session)]


def _feature(cell: GridCell, counts: dict[str, int] | None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": cell.grid_id,
        "geometry": cell.geometry,
        "properties": {
            "grid_id": cell.grid_id,
            "name": cell.name,
            "community": cell.community,
            "street": cell.street,
            "cameras": status_counts(counts),
        },
    }


async def grid_summaries(session: AsyncSession) -> dict[str, Any]:
    """Every grid cell as a GeoJSON FeatureCollection (WGS-84), counts in `properties.cameras`."""
    counts = await _counts_by(session, Camera.grid_id)
    cells = await session.scalars(select(GridCell).order_by(GridCell.grid_id))
    return {
        "type": "FeatureCollection",
        "features": [_feature(cell, counts.get(cell.grid_id)) for cell in cells],
    }


async def get_grid(session: AsyncSession, grid_id: str) -> dict[str, Any] | None:
    """One grid cell as a GeoJSON Feature with its camera counts, or None."""
    cell = await session.get(GridCell, grid_id)
    if cell is None:
        return None
    counts = await _counts_by(session, Camera.grid_id, Camera.grid_id == grid_id)
    return _feature(cell, counts.get(grid_id))
