"""The poll loop: lease due cameras, poll them with bounded concurrency, record results.

Concurrency is bounded globally (a fixed number of polls in flight) and per
host (an NVR or a platform serving many cameras gets only a few at a time).
A camera is leased only when a slot is free for it, so a lease never waits in
a queue; slow or hanging cameras hold their own slot until their timeout and
never delay the others. Results are written in batches by one recorder task.
While the object store is away and the local spool is full, no camera is
leased (polling pauses; pictures already captured are still spooled). On stop,
in-flight polls get `grace_s` to finish before they are cancelled; the
cancelled ones keep their lease until it lapses and are polled again then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import update

from catalog.db import Catalog
from catalog.models import Camera, utcnow
from catalog.polls import DueCamera, PollResult, lease_due_cameras, record_poll_results
from ingest.metrics import IngestMetrics, ingest_metrics, outcome_label
from ingest.pipeline import SnapshotPipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerSettings:
    """How hard the scheduler may work."""

    owner: str
    concurrency: int = 64
    per_host: int = 8
    lease_s: float = 15.0
    idle_s: float = 0.25  # how long to wait before looking for due cameras again
    flush_s: float = 0.2  # how often the recorder writes a batch
    grace_s: float = 10.0  # how long in-flight polls may finish after stop


def host_of(camera: DueCamera) -> str:
    """The network peer a camera's poll talks to (for the per-host cap)."""
    if "://" in camera.target:
        parts = urlsplit(camera.target)
        return f"{parts.hostname}:{parts.port or ''}"
    return "local"


@dataclass
class SchedulerCounters:
    """Counts since start, for logs, /stats and the benchmarks."""

    polls: int = 0
    stored: int = 0
    unchanged: int = 0
    failed: int = 0
    recorded: int = 0
    spooled: int = 0
    cancelled: int = 0
    lapsed: int = 0  # leases that ran out before their poll could start


class Scheduler:
    """Polls every camera at its interval; one instance per worker process."""

    def __init__(
        self,
        catalog: Catalog,
        pipeline: SnapshotPipeline,
        settings: SchedulerSettings,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self._catalog = catalog
        self._pipeline = pipeline
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.per_host)
        )
        self._results: list[PollResult] = []
        # Spooled pictures have no row yet, but later polls must compare with them.
        self._spooled_phash: dict[str, int] = {}
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.counters = SchedulerCounters()
        self.metrics = metrics or ingest_metrics()

    @property
    def pipeline(self) -> SnapshotPipeline:
        """The pipeline this scheduler polls through (on-demand captures share it)."""
        return self._pipeline

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, then drain in-flight polls and flush."""
        recorder = asyncio.create_task(self._record_loop(stop))
        # Lease in batches: one lease is one write transaction, and leasing a camera
        # each time a poll finishes costs a transaction per poll. A wait that ends
        # without a finished poll (idle) takes whatever slots are free.
        min_free = self._lease_batch
        try:
            while not stop.is_set():
                started = await self._start_due(min_free)
                if not started:
                    self._wake.clear()
                    waits = [
                        asyncio.create_task(stop.wait()),
                        asyncio.create_task(self._wake.wait()),
                    ]
                    await asyncio.wait(
                        waits, timeout=self._settings.idle_s, return_when="FIRST_COMPLETED"
                    )
                    for task in waits:
                        task.cancel()
                    min_free = self._lease_batch if self._wake.is_set() else 1
        finally:
            await self._drain()
            await recorder
            await self._final_flush()

    async def _final_flush(self) -> None:
        """Record what is left, retrying for `grace_s` while the database is away."""
        deadline = time.monotonic() + self._settings.grace_s
        while True:
            try:
                await self.flush()
                return
            except Exception:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _drain(self) -> None:
        """Let in-flight polls finish for `grace_s`, then cancel the rest."""
        if not self._in_flight:
            return
        _, late = await asyncio.wait(set(self._in_flight), timeout=self._settings.grace_s)
        for task in late:
            task.cancel()
        if late:
            self.counters.cancelled += len(late)
            log.warning("%d polls cancelled at shutdown; their leases lapse", len(late))
            await asyncio.gather(*late, return_exceptions=True)

    async def run_once(self) -> int:
        """Poll every camera that is due now, record, and return how many were polled."""
        total = 0
        while True:
            started = await self._start_due()
            if not started and not self._in_flight:
                break
            total += started
            if self._in_flight:
                await asyncio.wait(self._in_flight, return_when="FIRST_COMPLETED")
        await self.flush()
        return total

    @property
    def _lease_batch(self) -> int:
        """Free slots worth a lease while polls are finishing: an eighth of them."""
        return max(1, self._settings.concurrency // 8)

    async def _start_due(self, min_free: int = 1) -> int:
        free = self._settings.concurrency - len(self._in_flight)
        if free < max(1, min_free) or self._pipeline.paused:
            return 0
        now = utcnow()
        async with self._catalog.sessions() as session, session.begin():
            due = await lease_due_cameras(
                session,
                owner=self._settings.owner,
                now=now,
                limit=free,
                lease_s=self._settings.lease_s,
            )
        self.metrics.leases.inc(len(due))
        self.metrics.leased.inc(len(due))
        leased_at = time.monotonic()
        for camera in due:
            task = asyncio.create_task(self._poll(camera, leased_at), name=f"poll {camera.uid}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(due)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("poll task failed", exc_info=task.exception())

    async def _poll(self, camera: DueCamera, leased_at: float) -> None:
        async with self._slots, self._hosts[host_of(camera)]:
            started, started_at = time.monotonic(), utcnow()
            if started - leased_at > self._settings.lease_s * 0.8:
                # The lease lapsed (or nearly) while this poll waited for its host's
                # slot: another poll of the same due time may have begun. Leave it.
                self.counters.lapsed += 1
                self.metrics.leased.dec(1)
                return
            outcome = await self._pipeline.poll_outcome(camera)
        result = outcome.result
        self.counters.polls += 1
        self.metrics.observe_poll(
            camera.department_id,
            outcome_label(result, spooled=outcome.spooled is not None),
            (result.finished_at - started_at).total_seconds(),  # finished_at: when it answered
        )
        if outcome.spooled is not None:
            self.counters.spooled += 1
            self._spooled_phash[camera.uid] = outcome.spooled.phash
        if result.snapshot is not None:
            self.counters.stored += 1
        elif result.seen:
            self.counters.unchanged += 1
        else:
            self.counters.failed += 1
            log.info(
                "poll failed",
                extra={
                    "camera_uid": camera.uid,
                    "reason": result.reason,
                    "elapsed_s": round(time.monotonic() - started, 3),
                },
            )
        self._results.append(result)

    async def _record_loop(self, stop: asyncio.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.flush_s + backoff)
            try:
                await self.flush()
            except Exception:  # the database is away: keep results, try again soon
                # Short backoff: held results keep their cameras leased only until
                # the lease lapses, after which another worker may poll them again.
                backoff = min(max(2 * backoff, 0.25), 1.0)
            else:
                backoff = 0.0

    async def flush(self) -> None:
        """Write every finished poll's result in one transaction."""
        if not self._results:
            return
        # In uid order, so that writers of the same camera rows lock them alike.
        batch, self._results = sorted(self._results, key=lambda r: r.uid), []
        phashes, self._spooled_phash = self._spooled_phash, {}
        try:
            async with self._catalog.sessions() as session, session.begin():
                await record_poll_results(session, batch, owner=self._settings.owner)
                if phashes:
                    await session.execute(
                        update(Camera),
                        [{"uid": uid, "last_phash": phash} for uid, phash in phashes.items()],
                    )
        except Exception:
            # Keep the results for the next flush: their objects are already stored.
            log.exception("recording %d poll results failed; will retry", len(batch))
            self._results[:0] = batch
            self._spooled_phash = phashes | self._spooled_phash
            self.metrics.record_failures.inc()
            raise
        self.counters.recorded += len(batch)
        self.metrics.recorded.inc(len(batch))
        self.metrics.leased.dec(len(batch))
