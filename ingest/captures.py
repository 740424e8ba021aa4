"""On-demand captures: lease the requests the API recorded, poll each camera now, record it.

A capture is an ordinary poll through the worker's own `SnapshotPipeline`
(the same connectors, checks and store), except that the picture is stored
even when it looks unchanged, and that it leaves the camera's schedule alone:
the scheduled poll still comes at its due time. The result is recorded with
`record_poll_results`, so the camera's status, status events and snapshot
rows stay exactly as consistent as after a scheduled poll, and in the same
transaction the request is marked `done` with its snapshot, or `failed` with
the poll's reason. A picture taken while the object store is away goes to the
worker's spool like a scheduled poll's: the request is `done` then too, and
its snapshot shows once the spool is replayed into the store (DESIGN: a
spooled snapshot's row appears once its object is in the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace

from sqlalchemy import update

from catalog.captures import EXPIRE_S, LeasedCapture, finish_capture, lease_captures
from catalog.db import Catalog
from catalog.models import Camera, utcnow
from catalog.polls import NewSnapshot, PollResult, record_poll_results
from ingest.pipeline import SnapshotPipeline

__all__ = ["CaptureRunner", "CaptureSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureSettings:
    """How a worker takes on capture requests."""

    owner: str
    concurrency: int = 8
    lease_s: float = 15.0
    idle_s: float = 0.3  # how often to look for new requests when idle
    expire_s: float = EXPIRE_S  # a request nobody took for this long fails as expired


class CaptureRunner:
    """Carries out capture requests beside the scheduler; one instance per worker."""

    def __init__(
        self, catalog: Catalog, pipeline: SnapshotPipeline, settings: CaptureSettings
    ) -> None:
        self._catalog = catalog
        self._pipeline = pipeline
        self._settings = settings
        self._in_flight: set[asyncio.Task[None]] = set()
        self.done = 0
        self.failed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Take requests until `stop` is set, then let running captures finish."""
        try:
            while not stop.is_set():
                try:
                    started = await self._start_waiting()
                except Exception:  # the database is away: look again shortly
                    log.warning("leasing capture requests failed", exc_info=True)
                    started = 0
                if not started:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._settings.idle_s)
        finally:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def run_once(self) -> int:
        """Carry out every request waiting now (tests); returns how many were taken."""
        total = 0
        while True:
            started = await self._start_waiting()
            total += started
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            if not started:
                return total

    async def _start_waiting(self) -> int:
        free = self._settings.concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        async with self._catalog.sessions() as session, session.begin():
            leased = await lease_captures(
                session,
                owner=self._settings.owner,
                now=utcnow(),
                limit=free,
                lease_s=self._settings.lease_s,
                expire_s=self._settings.expire_s,
            )
        for capture in leased:
            task = asyncio.create_task(self._capture(capture), name=f"capture {capture.camera.uid}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(leased)

    async def _capture(self, capture: LeasedCapture) -> None:
        camera = capture.camera
        try:
            outcome = await self._pipeline.poll_outcome(camera, force_store=True)
        except Exception:
            log.exception("capture failed", extra={"camera_uid": camera.uid})
            await self._fail(capture, "capture failed")
            return
        # A capture is extra: the scheduled poll keeps its due time.
        result = replace(outcome.result, next_due_at=camera.due_at)
        try:
            await self._record(capture, result, outcome.spooled)
        except Exception:
            # The picture (if any) is in the store or the spool without a row;
            # the lapsed lease lets a worker take the request again.
            log.exception("recording a capture failed", extra={"camera_uid": camera.uid})
            return
        if result.snapshot is not None or outcome.spooled is not None:
            self.done += 1
        else:
            self.failed += 1
            log.info("capture failed", extra={"camera_uid": camera.uid, "reason": result.reason})

    async def _record(
        self, capture: LeasedCapture, result: PollResult, spooled: NewSnapshot | None
    ) -> None:
        async with self._catalog.sessions() as session, session.begin():
            ids = await record_poll_results(session, [result])
            if result.snapshot is not None:
                await finish_capture(
                    session, capture.request_id, now=result.finished_at, snapshot_id=ids[0]
                )
            elif spooled is not None:
                # Taken, and kept in the spool until the store is back: the request
                # is done, and its snapshot row appears when the spool is replayed
                # (`current_capture` links it then). As the scheduler does, the
                # camera remembers the picture's hash so the next poll compares
                # against it.
                await session.execute(
                    update(Camera).where(Camera.uid == result.uid).values(last_phash=spooled.phash)
                )
                await finish_capture(session, capture.request_id, now=result.finished_at)
            else:
                await finish_capture(
                    session,
                    capture.request_id,
                    now=result.finished_at,
                    error=result.reason or "no picture",
                )

    async def _fail(self, capture: LeasedCapture, reason: str) -> None:
        self.failed += 1
        try:
            async with self._catalog.sessions() as session, session.begin():
                await finish_capture(
                    session,
                    capture.request_id,
                    now=utcnow(),
                    error=reason,
                    release_camera=(capture.camera.uid, self._settings.owner),
                )
        except Exception:  # the leases lapse and another worker tries again
            log.warning("marking a capture failed did not work", exc_info=True)
