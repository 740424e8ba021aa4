"""The poll loop: lease due cameras, poll them with bounded concurrency, record results.

Concurrency is bounded globally (a fixed number of polls in flight) and per
host (an NVR or a platform serving many cameras gets only a few at a time).
A camera is leased only when a slot is free for it, so a lease never waits in
a queue; slow or hanging cameras hold their own slot until their timeout and
never delay the others. A lease also takes the cameras falling due before the
next look (`idle_s`), and each of those polls waits for its due time: polls
start one by one as they fall due, not in a burst per lease that then queues
for the image threads. Results are written in batches by one recorder task.
While the object store is away and the local spool is full, no camera is
leased (polling pauses; pictures already captured are still spooled). On stop,
in-flight polls get `grace_s` to finish before they are cancelled; the
cancelled ones keep their lease until it lapses and are polled again then.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
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


async def _wait(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passed; whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()


def host_of(camera: DueCamera) -> str:
    """The network peer a camera's poll talks to (for the per-host cap)."""
    return _host_of_target(camera.target)


@functools.lru_cache(maxsize=1 << 16)
def _host_of_target(target: str) -> str:
    # cached: the same few thousand targets are parsed again at every poll
    if "://" in target:
        parts = urlsplit(target)
        return f"{parts.hostname}:{parts.port or ''}"
    return "local"


_NOT_LOCKED = contextlib.nullcontext()


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
        # SQLite takes one writer at a time, and a writer that finds the file locked
        # sleeps in its busy handler (1, 2, 5, 10, ... ms) before it looks again; a
        # lease that waits so for a flush's commit starts no poll meanwhile. Here
        # the lease and the flush take turns on this lock instead, and the one that
        # waits goes on as soon as the other commits. PostgreSQL locks rows, not the
        # database: they need not wait for each other there.
        self._writing: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if catalog.dialect == "sqlite" else _NOT_LOCKED
        )
        self._more_due = True  # whether the last lease may have left due cameras behind
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
        waker = asyncio.create_task(self._wake_on(stop))
        # Lease in batches: one lease is one write transaction, and leasing a camera
        # each time a poll finishes costs a transaction per poll. While the slots
        # are the limit, a finished poll wakes the loop and a lease waits for an
        # eighth of them to be free. Once a lease took every camera that is due, a
        # finished poll makes no other camera due: the next lease waits for the
        # idle timer (cameras fall due as time passes), not for every poll's end.
        min_free = self._lease_batch
        try:
            while not stop.is_set():
                self._wake.clear()  # before the lease: a poll ending during it counts
                # cameras falling due before the next idle wake are leased now and
                # each poll starts at its due time: polls start one by one, not in
                # bursts at each lease that queue for the image threads
                started = await self._start_due(min_free, self._settings.idle_s)
                more_due = self._more_due
                if started and more_due:
                    continue  # slots permitting, lease again at once
                if more_due:  # the slots are busy: wait for polls to finish
                    woken = await _wait(self._wake, self._settings.idle_s)
                    min_free = self._lease_batch if woken else 1
                else:  # all due cameras are polling: wait for more to fall due
                    await _wait(stop, self._settings.idle_s)
                    min_free = 1
        finally:
            waker.cancel()
            await self._drain()
            await recorder
            await self._final_flush()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

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

    async def _start_due(self, min_free: int = 1, ahead_s: float = 0.0) -> int:
        """Lease due cameras (and those due within `ahead_s`), start their polls, count them.

        Sets `_more_due`: whether more may be due than there were free slots (False
        when the lease took every due camera, or polling is paused).
        """
        free = self._settings.concurrency - len(self._in_flight)
        self._more_due = not self._pipeline.paused
        if self._pipeline.paused or free < max(1, min_free):
            return 0
        async with self._writing, self._catalog.sessions() as session, session.begin():
            now = utcnow()
            due = await lease_due_cameras(
                session,
                owner=self._settings.owner,
                now=now,
                limit=free,
                lease_s=self._settings.lease_s,
                due_by=now + timedelta(seconds=ahead_s),
            )
        self.metrics.leases.inc(len(due))
        self.metrics.leased.inc(len(due))
        leased_at = time.monotonic()
        for camera in due:
            task = asyncio.create_task(self._poll(camera, leased_at), name=f"poll {camera.uid}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        self._more_due = len(due) == free
        return len(due)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("poll task failed", exc_info=task.exception())

    async def _poll(self, camera: DueCamera, leased_at: float) -> None:
        early = (camera.due_at - utcnow()).total_seconds()
        if early > 0:  # leased ahead of its due time (by at most idle_s)
            await asyncio.sleep(early)
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
            async with self._writing, self._catalog.sessions() as session, session.begin():
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
