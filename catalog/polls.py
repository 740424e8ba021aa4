"""The catalog side of polling: lease due cameras, record what each poll found.

A worker leases a batch of due cameras (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so workers never take the same camera), polls them, and records
the results in one transaction per batch: new snapshot rows, the camera's new
state and next due time, a status event for every change, and the lease
released. A poll is never started twice for one due time.

Both sides are SQLAlchemy Core statements on the mapped tables: a lease is one
``UPDATE … RETURNING`` and a record is one executemany per statement, because
loading and flushing ORM objects cost more than the polls they record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, bindparam, insert, or_, select, update
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


# the Core tables behind the mapped classes
_CAMERAS: Final[Table] = Camera.metadata.tables[Camera.__tablename__]
_SNAPSHOTS: Final[Table] = Snapshot.metadata.tables[Snapshot.__tablename__]
_EVENTS: Final[Table] = CameraStatusEvent.metadata.tables[CameraStatusEvent.__tablename__]
# the columns a poll is judged against, in the order of DueCamera's fields
_DUE_COLUMNS: Final = tuple(
    _CAMERAS.c[name]
    for name in (
        "uid",
        "department_id",
        "camera_id",
        "kind",
        "snapshot_target",
        "timeout_s",
        "interval_s",
        "status",
        "status_reason",
        "last_sha256",
        "last_phash",
        "same_bytes_count",
        "failures",
        "next_due_at",
    )
)


async def lease_due_cameras(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease_s: float,
    due_by: datetime | None = None,
) -> list[DueCamera]:
    """Lease up to `limit` cameras that are due and not leased by a live worker.

    `due_by` (default `now`) leases cameras that fall due up to then as well, so
    that a worker which leases every fraction of a second can start each poll at
    its due time rather than all of them at the next lease.

    One statement, no ORM objects: ``UPDATE cameras SET lease_until, lease_owner WHERE
    uid IN (the due uids, oldest due first, LIMIT n) RETURNING`` the poll state. On
    PostgreSQL the inner select takes ``FOR UPDATE SKIP LOCKED``, so concurrent
    workers lease disjoint batches; SQLite has one writer at a time and no such
    clause (SQLAlchemy leaves it out there). The cameras come back oldest due first.
    """
    c = _CAMERAS.c
    due = (
        select(c.uid)
        .where(
            c.status != "retired",
            c.kind != "none",  # config.NO_SNAPSHOT: metadata-only inventory cameras
            c.next_due_at <= (now if due_by is None else due_by),
            or_(c.lease_until.is_(None), c.lease_until < now),
        )
        .order_by(c.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    leased = (
        update(_CAMERAS)
        .where(c.uid.in_(due.scalar_subquery()))
        .values(lease_until=now + timedelta(seconds=lease_s), lease_owner=owner)
        .returning(*_DUE_COLUMNS)
    )
    rows = (await session.execute(leased)).all()
    cameras = [DueCamera(*row) for row in rows]
    cameras.sort(key=lambda camera: (camera.due_at, camera.uid))
    return cameras


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


async def record_poll_results(
    session: AsyncSession, results: Sequence[PollResult], *, owner: str | None = None
) -> list[int]:
    """Write snapshot rows, camera state and status events; release the leases.

    With `owner`, a camera's state is written only while that worker still holds
    its lease: a result that arrives after the lease lapsed and another worker
    took the camera must not release that worker's lease or move its due time.

    Returns the ids of the new snapshot rows in the order of `results` that had one.
    Core statements only (an executemany per statement shape), no ORM objects loaded.
    """
    if not results:
        return []
    stored = [r for r in results if r.snapshot is not None]
    ids: list[int] = []
    if stored:
        rows = [_snapshot_row(r.uid, r.snapshot) for r in stored if r.snapshot is not None]
        inserted = await session.execute(
            insert(_SNAPSHOTS).returning(_SNAPSHOTS.c.id, sort_by_parameter_order=True), rows
        )
        ids = [row[0] for row in inserted]
    snapshot_ids = dict(zip((r.uid for r in stored), ids, strict=True))
    # A sync may have retired a camera while its poll was in flight: its picture
    # is kept, but the poll must not bring it back to life.
    c = _CAMERAS.c
    uids = [r.uid for r in results]
    retired = set(
        (await session.execute(select(c.uid).where(c.uid.in_(uids), c.status == "retired")))
        .scalars()
        .all()
    )
    results = [r for r in results if r.uid not in retired]
    if retired:
        await session.execute(
            update(_CAMERAS).where(c.uid.in_(retired)).values(lease_until=None, lease_owner=None)
        )
    # uid order on every writer (recorder, replayer) so concurrent batches cannot deadlock
    results = sorted(results, key=lambda r: r.uid)
    updates = [_camera_update(r, snapshot_ids.get(r.uid)) for r in results]
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in updates:
        shapes.setdefault(tuple(sorted(values)), []).append(values)
    for same_shape in shapes.values():
        # the status guard also covers a retirement committed after the select above
        condition = [c.uid == bindparam("_uid"), c.status != "retired"]
        if owner is not None:
            condition.append(c.lease_owner == owner)
        await session.execute(update(_CAMERAS).where(*condition), same_shape)
    events = [
        {"camera_uid": r.uid, "at": r.finished_at, "status": r.status, "reason": r.reason}
        for r in results
        if (r.status, r.reason) != (r.previous_status, r.previous_reason)
    ]
    if events:
        await session.execute(insert(_EVENTS), events)
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
        "_uid": result.uid,
        "next_due_at": result.next_due_at,
        "failures": result.failures,
        "same_bytes_count": result.same_bytes_count,
        "lease_until": None,
        "lease_owner": None,
        "updated_at": result.finished_at,
    }
    # The status only when it changed (when a status event is written too): six
    # of the search indexes hold it, and SQLite rewrites an index whose column is
    # set, to the same value or not; most polls leave it as it was.
    if (result.status, result.reason) != (result.previous_status, result.previous_reason):
        values["status"] = result.status
        values["status_reason"] = result.reason
        values["status_since"] = result.finished_at
    if result.seen:
        values["last_seen_at"] = result.finished_at
        values["last_sha256"] = result.sha256
    if result.snapshot is not None and snapshot_id is not None:
        values["last_phash"] = result.snapshot.phash
        values["last_snapshot_at"] = result.snapshot.captured_at
        values["last_snapshot_id"] = snapshot_id
    return values
