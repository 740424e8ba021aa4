"""Snapshot listings: newest first, by camera or by area, within a time window.

Order is `captured_at` descending, then `id` descending; `since` is
inclusive and `until` exclusive. An area is any `CameraFilter`; a snapshot
listing by area includes the snapshots of cameras retired since (history is
never dropped) when the filter's `statuses` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from catalog.models import Camera, Snapshot
from catalog.queries.cameras import CameraFilter, camera_uid_condition
from catalog.queries.cursors import decode_cursor, decode_time, encode_cursor, encode_time

__all__ = [
    "SnapshotPage",
    "get_snapshot",
    "latest_snapshot",
    "latest_snapshots_for",
    "list_snapshots",
]


@dataclass(frozen=True)
class SnapshotPage:
    """One page of snapshots and the cursor of the next one (None on the last page)."""

    items: list[Snapshot]
    next_cursor: str | None


async def list_snapshots(
    session: AsyncSession,
    *,
    camera_uid: str | None = None,
    area: CameraFilter | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> SnapshotPage:
    """Snapshots newest first, of one camera and/or of the cameras matching `area`.

    Raises `InvalidCursor` for a cursor this ordering did not hand out.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    stmt = select(Snapshot)
    if camera_uid is not None:
        stmt = stmt.where(Snapshot.camera_uid == camera_uid)
    if area is not None:
        stmt = stmt.where(await camera_uid_condition(session, area, Snapshot.camera_uid))
    if since is not None:
        stmt = stmt.where(Snapshot.captured_at >= since)
    if until is not None:
        stmt = stmt.where(Snapshot.captured_at < until)
    if cursor is not None:
        at_raw, last_id = decode_cursor(cursor, "snap", (str, int))
        at = decode_time(at_raw)
        stmt = stmt.where(
            or_(
                Snapshot.captured_at < at,
                and_(Snapshot.captured_at == at, Snapshot.id < int(last_id)),
            )
        )
    stmt = stmt.order_by(Snapshot.captured_at.desc(), Snapshot.id.desc()).limit(limit + 1)
    found = list(await session.scalars(stmt))
    if len(found) > limit:
        last = found[limit - 1]
        return SnapshotPage(
            found[:limit], encode_cursor("snap", encode_time(last.captured_at), last.id)
        )
    return SnapshotPage(found, None)


async def get_snapshot(session: AsyncSession, snapshot_id: int) -> Snapshot | None:
    """One snapshot by id, or None."""
    return await session.get(Snapshot, snapshot_id)


async def latest_snapshot(session: AsyncSession, camera_uid: str) -> Snapshot | None:
    """The newest stored snapshot of one camera, or None when it has none."""
    page = await list_snapshots(session, camera_uid=camera_uid, limit=1)
    return page.items[0] if page.items else None


async def latest_snapshots_for(
    session: AsyncSession, camera_uids: Sequence[str]
) -> dict[str, Snapshot]:
    """The newest snapshot of each of `camera_uids` that has one, by camera uid.

    One query: for each camera a correlated subquery picks its newest id
    through the (camera_uid, captured_at, id) index.
    """
    if not camera_uids:
        return {}
    newer = aliased(Snapshot)
    newest_id = (
        select(newer.id)
        .where(newer.camera_uid == Camera.uid)
        .order_by(newer.captured_at.desc(), newer.id.desc())
        .limit(1)
        .correlate(Camera)
        .scalar_subquery()
    )
    stmt = (
        select(Snapshot)
        .join(Camera, Snapshot.id == newest_id)
        .where(Camera.uid.in_(list(camera_uids)))
    )
    return {s.camera_uid: s for s in await session.scalars(stmt)}
