"""On-demand captures: the API records a request, an ingest worker carries it out.

A request starts `pending`. A worker leases it (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so two workers never take the same one) together with its camera,
so the scheduler does not poll that camera meanwhile; the request is then
`running` until the worker records the poll and marks it `done` (with the
snapshot it stored, or with none yet when the picture went to the worker's
spool during a store outage: `current_capture` links the row once the spool
is replayed) or `failed` (with the reason). A worker that dies lets
both leases lapse and another one takes the request again. A request no
worker takes within `expire_s` (`EXPIRE_S` unless a worker is told otherwise)
fails as expired, so clients polling it learn that no ingest worker is running:
workers expire stale requests when they lease, and reading one request through
`current_capture` expires it too, so a client learns it even when no
worker runs anywhere. Writes are flushed, not committed: the caller owns the
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Camera, CaptureRequest, Snapshot, utcnow
from catalog.polls import DueCamera, due_camera

__all__ = [
    "CAPTURE_STATES",
    "EXPIRED",
    "EXPIRE_S",
    "FINISHED_STATES",
    "LeasedCapture",
    "current_capture",
    "finish_capture",
    "get_capture",
    "lease_captures",
    "request_capture",
]

CAPTURE_STATES: Final = ("pending", "running", "done", "failed")
FINISHED_STATES: Final = frozenset({"done", "failed"})
EXPIRED: Final = "expired: no ingest worker took the request"
#: How long a request may stay pending before it fails as `EXPIRED`, in seconds.
EXPIRE_S: Final = 300.0
_ERROR_LENGTH: Final = 200  # the column's width


@dataclass(frozen=True)
class LeasedCapture:
    """A capture request this worker now runs, and its (leased) camera's poll state."""

    request_id: int
    camera: DueCamera


async def request_capture(
    session: AsyncSession, *, camera_uid: str, requested_by: str, now: datetime | None = None
) -> CaptureRequest:
    """Record a pending capture of `camera_uid`; flushed, so its `id` is known."""
    request = CaptureRequest(
        camera_uid=camera_uid,
        requested_by=requested_by,
        requested_at=now or utcnow(),
        state="pending",
    )
    session.add(request)
    await session.flush()
    return request


async def get_capture(session: AsyncSession, capture_id: int) -> CaptureRequest | None:
    """One capture request by id, or None."""
    return await session.get(CaptureRequest, capture_id)


async def current_capture(
    session: AsyncSession,
    capture_id: int,
    *,
    now: datetime | None = None,
    expire_s: float = EXPIRE_S,
) -> CaptureRequest | None:
    """One capture request by id, brought up to date as it is read; None when unknown.

    A request still `pending` after `expire_s` fails as `EXPIRED` (one UPDATE
    guarded by the state, so a worker leasing it at the same moment wins or
    loses cleanly). A `done` request without a snapshot took its picture while
    the store was away (it went to the worker's spool); once the spool's replay
    has added the row, with the picture's original `captured_at`, which is the
    request's `finished_at`, the request is linked to it. A request that needs
    neither costs one read and no write.
    """
    request = await session.get(CaptureRequest, capture_id)
    now = now or utcnow()
    if request is None:
        return None
    if _is_stale(request, now, expire_s):
        await _expire_stale(session, now, expire_s, capture_id=capture_id)
        await session.refresh(request)
    elif request.state == "done" and request.snapshot_id is None:
        request.snapshot_id = await session.scalar(
            select(Snapshot.id)
            .where(
                Snapshot.camera_uid == request.camera_uid,
                Snapshot.captured_at == request.finished_at,
            )
            .order_by(Snapshot.id)
            .limit(1)
        )
        await session.flush()
    return request


def _is_stale(request: CaptureRequest, now: datetime, expire_s: float) -> bool:
    return request.state == "pending" and request.requested_at < now - timedelta(seconds=expire_s)


async def _expire_stale(
    session: AsyncSession, now: datetime, expire_s: float, *, capture_id: int | None = None
) -> None:
    stmt = (
        update(CaptureRequest)
        .where(
            CaptureRequest.state == "pending",
            CaptureRequest.requested_at < now - timedelta(seconds=expire_s),
        )
        .values(state="failed", error=EXPIRED, finished_at=now)
    )
    if capture_id is not None:
        stmt = stmt.where(CaptureRequest.id == capture_id)
    await session.execute(stmt)


async def lease_captures(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease_s: float,
    expire_s: float = EXPIRE_S,
) -> list[LeasedCapture]:
    """Lease up to `limit` waiting requests, oldest first, each with its camera.

    A request waits while `pending`, or while `running` under a lapsed lease
    (its worker died). A request whose camera is being polled right now (its
    camera leased by a live worker, or locked) stays pending for a later call;
    so does a second request for a camera already taken in this batch. A
    request for a retired camera fails at once.
    """
    await _expire_stale(session, now, expire_s)
    waiting = (
        select(CaptureRequest)
        .where(
            or_(
                CaptureRequest.state == "pending",
                and_(CaptureRequest.state == "running", CaptureRequest.lease_until < now),
            )
        )
        .order_by(CaptureRequest.requested_at, CaptureRequest.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    requests = (await session.scalars(waiting)).all()
    until = now + timedelta(seconds=lease_s)
    leased: list[LeasedCapture] = []
    taken: set[str] = set()
    for request in requests:
        if request.camera_uid in taken:
            continue
        camera = await session.scalar(
            select(Camera).where(Camera.uid == request.camera_uid).with_for_update(skip_locked=True)
        )
        if camera is None:
            continue  # locked by a worker leasing it right now: try again later
        if camera.status == "retired":
            request.state, request.error, request.finished_at = "failed", "camera retired", now
            continue
        if camera.lease_until is not None and camera.lease_until >= now:
            continue  # a poll of it is running; the capture follows it
        taken.add(camera.uid)
        camera.lease_until, camera.lease_owner = until, owner
        request.state, request.lease_until, request.lease_owner = "running", until, owner
        leased.append(LeasedCapture(request.id, due_camera(camera)))
    await session.flush()
    return leased


async def finish_capture(
    session: AsyncSession,
    capture_id: int,
    *,
    now: datetime,
    snapshot_id: int | None = None,
    error: str | None = None,
    release_camera: tuple[str, str] | None = None,
) -> None:
    """Mark a request `done` (with `snapshot_id`, None for a spooled picture) or `failed`.

    `release_camera` (uid, owner) also drops this worker's lease on the camera,
    for a capture whose poll result was not recorded (recording releases it).
    """
    await session.execute(
        update(CaptureRequest)
        .where(CaptureRequest.id == capture_id)
        .values(
            state="failed" if error is not None else "done",
            snapshot_id=snapshot_id,
            error=None if error is None else error[:_ERROR_LENGTH],
            finished_at=now,
            lease_until=None,
            lease_owner=None,
        )
    )
    if release_camera is not None:
        uid, owner = release_camera
        await session.execute(
            update(Camera)
            .where(Camera.uid == uid, Camera.lease_owner == owner)
            .values(lease_until=None, lease_owner=None)
        )
