"""The catalog side of polling: lease due cameras, record what each poll found.

A worker leases a batch of due cameras (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so workers never take the same camera), polls them, and records
the results in one transaction per batch: new snapshot rows, the camera's new
state and next due time, a status event for every change, and the lease
released. A poll is never started twice for one due time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Camera, CameraStatusEvent, Snapshot


@dataclass(frozen=True)
class DueCamera:
    """A leased camera and the state its poll is judged against."""

    uid: str
    department_id: str
    camera_id: str
    kind: str
    target: str
    timeout_s: float
    interval_s: float
    status: str
    status_reason: str
    last_sha256: str | None
    last_phash: int | None  # of the last stored picture
    same_bytes_count: int
    failures: int
    due_at: datetime


@dataclass(frozen=True)
class NewSnapshot:
    """A picture whose objects are already in the store; its row is still to write."""

    captured_at: datetime
    width: int
    height: int
    bytes: int
    sha256: str
    phash: int
    object_key: str
    thumb_key: str
    brightness: float
    sharpness: float
    flags: tuple[str, ...]


@dataclass(frozen=True)
class PollResult:
    """What one poll of one camera found, ready to record."""

    uid: str
    finished_at: datetime
    previous_status: str
    previous_reason: str
    status: str
    reason: str
    next_due_at: datetime
    failures: int
    same_bytes_count: int
    seen: bool
    sha256: str | None = None
    snapshot: NewSnapshot | None = None


async def lease_due_cameras(
    session: AsyncSession, *, owner: str, now: datetime, limit: int, lease_s: float
) -> list[DueCamera]:
    """Lease up to `limit` cameras that are due and not leased by a live worker."""
    query = (
        select(Camera)
        .where(
            Camera.status != "retired",
            Camera.kind != "none",  # config.NO_SNAPSHOT: metadata-only inventory cameras
            Camera.next_due_at <= now,
            or_(Camera.lease_until.is_(None), Camera.lease_until < now),
        )
        .order_by(Camera.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.scalars(query)).all()
    if not rows:
        return []
    until = now + timedelta(seconds=lease_s)
    await session.execute(
        update(Camera)
        .where(Camera.uid.in_([row.uid for row in rows]))
        .values(lease_until=until, lease_owner=owner)
    )
    return [due_camera(row) for row in rows]


def due_camera(row: Camera) -> DueCamera:
    """The poll state of a camera row (its due time is the row's `next_due_at`)."""
    return DueCamera(
        uid=row.uid,
        department_id=row.department_id,
        camera_id=row.camera_id,
        kind=row.kind,
        target=row.snapshot_target,
        timeout_s=row.timeout_s,
        interval_s=row.interval_s,
        status=row.status,
        status_reason=row.status_reason,
        last_sha256=row.last_sha256,
        last_phash=row.last_phash,
        same_bytes_count=row.same_bytes_count,
        failures=row.failures,
        due_at=row.next_due_at,
    )


async def record_poll_results(session: AsyncSession, results: Sequence[PollResult]) -> list[int]:
    """Write snapshot rows, camera state and status events; release the leases.

    Returns the ids of the new snapshot rows in the order of `results` that had one.
    """
    stored = [r for r in results if r.snapshot is not None]
    ids: list[int] = []
    if stored:
        rows = [_snapshot_row(r.uid, r.snapshot) for r in stored if r.snapshot is not None]
        inserted = await session.execute(
            insert(Snapshot).returning(Snapshot.id, sort_by_parameter_order=True), rows
        )
        ids = [row[0] for row in inserted]
    snapshot_ids = dict(zip((r.uid for r in stored), ids, strict=True))
    # A sync may have retired a camera while its poll was in flight: its picture
    # is kept, but the poll must not bring it back to life.
    retired = set(
        (
            await session.scalars(
                select(Camera.uid).where(
                    Camera.uid.in_([r.uid for r in results]), Camera.status == "retired"
                )
            )
        ).all()
    )
    results = [r for r in results if r.uid not in retired]
    if retired:
        await session.execute(
            update(Camera).where(Camera.uid.in_(retired)).values(lease_until=None, lease_owner=None)
        )
    updates = [_camera_update(r, snapshot_ids.get(r.uid)) for r in results]
    for keys in {tuple(sorted(u)) for u in updates}:
        same_shape = [u for u in updates if tuple(sorted(u)) == keys]
        await session.execute(update(Camera), same_shape)
    events = [
        {"camera_uid": r.uid, "at": r.finished_at, "status": r.status, "reason": r.reason}
        for r in results
        if (r.status, r.reason) != (r.previous_status, r.previous_reason)
    ]
    if events:
        await session.execute(insert(CameraStatusEvent), events)
    return ids


def _snapshot_row(uid: str, snap: NewSnapshot) -> dict[str, Any]:
    return {
        "camera_uid": uid,
        "captured_at": snap.captured_at,
        "width": snap.width,
        "height": snap.height,
        "bytes": snap.bytes,
        "sha256": snap.sha256,
        "phash": snap.phash,
        "object_key": snap.object_key,
        "thumb_key": snap.thumb_key,
        "brightness": snap.brightness,
        "sharpness": snap.sharpness,
        "flags": list(snap.flags),
    }


def _camera_update(result: PollResult, snapshot_id: int | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "uid": result.uid,
        "status": result.status,
        "status_reason": result.reason,
        "next_due_at": result.next_due_at,
        "failures": result.failures,
        "same_bytes_count": result.same_bytes_count,
        "lease_until": None,
        "lease_owner": None,
        "updated_at": result.finished_at,
    }
    if (result.status, result.reason) != (result.previous_status, result.previous_reason):
        values["status_since"] = result.finished_at
    if result.seen:
        values["last_seen_at"] = result.finished_at
        values["last_sha256"] = result.sha256
    if result.snapshot is not None and snapshot_id is not None:
        values["last_phash"] = result.snapshot.phash
        values["last_snapshot_at"] = result.snapshot.captured_at
        values["last_snapshot_id"] = snapshot_id
    return values
