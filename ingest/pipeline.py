"""One poll of one camera: fetch, check the picture, store it, judge the camera.

The judgement is a pure function (`judge`) so the rules that decide what an
operator sees — online, degraded with a reason, offline with a reason — are
tested without any I/O. The objects are written before their row exists
(the row is written later by the recorder), so no row ever points at a
missing object. The picture is put durably (it survives a power cut once its
put returned); the thumbnail is not synced, being rebuilt from the picture by
the API or `camgrid fsck --repair` if a power cut loses it. While the store is
away, pictures go to the local spool (`ingest.spool`) instead and their rows
are written when the replayer has uploaded them; such a poll is still a success.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from catalog.models import utcnow
from catalog.polls import DueCamera, NewSnapshot, PollResult
from catalog.store import ObjectStore, StoreError, StoreUnavailable, snapshot_keys
from ingest.connectors import CameraTarget, SnapshotConnector, SnapshotError
from ingest.image import PHASH_SAME_DISTANCE as PHASH_SAME
from ingest.image import ImageCheck, NotAnImage, hamming, inspect_jpeg
from ingest.spool import Spool, SpooledSnapshot

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 1800.0
FROZEN_AFTER_REPEATS = 2  # the same bytes three times running: two repeats
FLAG_REASONS = {"black": "black image", "error_page": "error image", "blurred": "blurred image"}

TargetFor = Callable[[DueCamera], CameraTarget]


@dataclass(frozen=True)
class Fetched:
    """A picture that passed the checks, with its digest."""

    data: bytes
    sha256: str
    check: ImageCheck
    received_at: datetime

    @property
    def thumb(self) -> bytes:
        """The thumbnail, which every picture to be stored has (`fetch` makes it)."""
        if self.check.thumb is None:
            raise RuntimeError("a picture recorded as unchanged has no thumbnail to store")
        return self.check.thumb


def next_due(camera: DueCamera, now: datetime, failures: int, rng: random.Random) -> datetime:
    """When to poll again: the camera's next slot on success, exponential backoff on failure.

    Never within half an interval of `now`: a poll that ended late skips a slot
    rather than polling again at once.
    """
    interval = camera.interval_s
    if failures:
        delay = min(interval * 2 ** min(failures - 1, 10), max(interval, MAX_BACKOFF_S))
        return now + timedelta(seconds=delay * rng.uniform(0.9, 1.1))
    return poll_slot(camera.uid, interval, now + timedelta(seconds=interval / 2))


def poll_slot(uid: str, interval_s: float, not_before: datetime) -> datetime:
    """The first of the camera's slots at or after `not_before`.

    A camera's polls fall every `interval_s` at a phase of its own, from a
    hash of its uid, so cameras spread evenly over the interval whenever
    they were added. A fresh sync polls its new cameras within a few seconds.
    Before this, the cadence kept them bunched for many intervals: the demo's
    2,000 cameras came due within 15 s of every minute, and that burst took
    a third of the API's throughput.
    """
    phase = zlib.crc32(uid.encode()) / 2**32 * interval_s
    slots = math.ceil((not_before.timestamp() - phase) / interval_s)
    return datetime.fromtimestamp(slots * interval_s + phase, UTC)


def judge_failure(
    camera: DueCamera, now: datetime, status: str, reason: str, rng: random.Random
) -> PollResult:
    """The result of a poll that brought no usable picture."""
    failures = camera.failures + 1
    return PollResult(
        uid=camera.uid,
        finished_at=now,
        previous_status=camera.status,
        previous_reason=camera.status_reason,
        status=status,
        reason=reason,
        next_due_at=next_due(camera, now, failures, rng),
        failures=failures,
        same_bytes_count=0,
        seen=False,
    )


def judge(
    camera: DueCamera, fetched: Fetched, snapshot: NewSnapshot | None, rng: random.Random
) -> PollResult:
    """The result of a poll that brought a real picture (stored or unchanged)."""
    repeats = camera.same_bytes_count + 1 if fetched.sha256 == camera.last_sha256 else 0
    if repeats >= FROZEN_AFTER_REPEATS:
        status, reason = "degraded", "frozen"
    elif fetched.check.flags:
        status = "degraded"
        reason = ", ".join(FLAG_REASONS.get(f, f) for f in fetched.check.flags)
    else:
        status, reason = "online", ""
    return PollResult(
        uid=camera.uid,
        finished_at=fetched.received_at,
        previous_status=camera.status,
        previous_reason=camera.status_reason,
        status=status,
        reason=reason,
        next_due_at=next_due(camera, fetched.received_at, 0, rng),
        failures=0,
        same_bytes_count=repeats,
        seen=True,
        sha256=fetched.sha256,
        snapshot=snapshot,
    )


def is_unchanged(camera: DueCamera, check: ImageCheck) -> bool:
    """Whether the picture looks the same as the last stored one.

    `inspect_jpeg` applies the same rule to `unless_like`: such a picture has no thumbnail.
    """
    return camera.last_phash is not None and hamming(check.phash, camera.last_phash) <= PHASH_SAME


@dataclass(frozen=True)
class PollOutcome:
    """A poll's result, and the snapshot that went to the spool instead of the store."""

    result: PollResult
    spooled: NewSnapshot | None = None


def _check(data: bytes, unless_like: int | None) -> tuple[str, ImageCheck]:
    return hashlib.sha256(data).hexdigest(), inspect_jpeg(data, unless_like=unless_like)


class SnapshotPipeline:
    """Fetches, checks and stores pictures; turns each poll into a `PollResult`."""

    def __init__(
        self,
        connectors: Mapping[str, SnapshotConnector],
        store: ObjectStore,
        target_for: TargetFor,
        executor: Executor,
        *,
        rng: random.Random | None = None,
        spool: Spool | None = None,
    ) -> None:
        self._connectors = connectors
        self._store = store
        self._target_for = target_for
        self._executor = executor
        self._rng = rng or random.Random()
        self._spool = spool
        # Set by a failed put, cleared by the replayer once the store takes its
        # uploads again: while set, pictures go straight to the spool, so no poll
        # waits on a dead store.
        self.store_down = False

    @property
    def spool(self) -> Spool | None:
        """Where pictures go while the store is away (None: they are not kept)."""
        return self._spool

    @property
    def paused(self) -> bool:
        """Whether polling should pause: the store is away and the spool is full."""
        return self._spool is not None and self.store_down and self._spool.full

    def store_back(self) -> None:
        """The replayer got through to the store: write to it directly again."""
        if self.store_down:
            log.info("object store back; the spool drains behind new pictures")
        self.store_down = False

    async def fetch(self, camera: DueCamera, *, force_store: bool = False) -> Fetched:
        """Fetch and check one picture; raises SnapshotError or NotAnImage.

        A picture that `is_unchanged` will find unchanged gets no thumbnail,
        unless `force_store` (it is stored all the same).
        """
        connector = self._connectors.get(camera.kind)
        if connector is None:
            raise SnapshotError(f"no connector for kind {camera.kind!r}")
        target = self._target_for(camera)
        # The connector enforces the camera's timeout; this outer bound is a backstop
        # (a timeout scope, not wait_for, which on 3.11 wraps the fetch in a task).
        async with asyncio.timeout(camera.timeout_s + 5.0):
            data = await connector.fetch(target)
        received_at = utcnow()
        loop = asyncio.get_running_loop()
        like = None if force_store else camera.last_phash
        sha256, check = await loop.run_in_executor(self._executor, _check, data, like)
        return Fetched(data, sha256, check, received_at)

    async def store(self, camera: DueCamera, fetched: Fetched) -> NewSnapshot:
        """Put the picture and its thumbnail in the store; the row comes later.

        The picture is put durably; its thumbnail is not (it is rebuilt from the
        picture if a power cut loses it: `catalog.store.thumbs`).
        """
        snapshot = new_snapshot(camera, fetched)
        await self._store.put_snapshot(
            snapshot.object_key, fetched.data, snapshot.thumb_key, fetched.thumb
        )
        return snapshot

    async def store_or_spool(self, camera: DueCamera, fetched: Fetched) -> PollOutcome:
        """Store the picture, or spool it while the store is away.

        Raises StoreError when it can be neither stored nor spooled.
        """
        if self._spool is None or not self.store_down:
            try:
                snapshot = await self.store(camera, fetched)
            except StoreUnavailable:
                if self._spool is None:
                    raise
                if not self.store_down:
                    log.warning("object store unavailable; spooling pictures")
                self.store_down = True
            else:
                return PollOutcome(judge(camera, fetched, snapshot, self._rng))
        assert self._spool is not None
        snapshot = new_snapshot(camera, fetched)
        item = SpooledSnapshot(camera.uid, snapshot, fetched.data, fetched.thumb)
        try:
            await self._spool.put(item)
        except OSError as exc:
            raise StoreUnavailable(f"spool refused a picture: {exc}") from exc
        result = judge(camera, fetched, None, self._rng)
        if self._spool.full:  # kept, but polling pauses until the store is back
            result = replace(result, status="degraded", reason="store unavailable")
        return PollOutcome(result, spooled=snapshot)

    async def poll(self, camera: DueCamera, *, force_store: bool = False) -> PollResult:
        """One complete poll. Never raises for a camera's fault.

        With `force_store` (an on-demand capture) the picture is stored even when
        it looks the same as the last stored one.
        """
        return (await self.poll_outcome(camera, force_store=force_store)).result

    async def poll_outcome(self, camera: DueCamera, *, force_store: bool = False) -> PollOutcome:
        """Like `poll`, and also tells which snapshot was spooled rather than stored."""
        try:
            fetched = await self.fetch(camera, force_store=force_store)
        except SnapshotError as exc:
            return PollOutcome(judge_failure(camera, utcnow(), "offline", exc.reason, self._rng))
        except TimeoutError:
            return PollOutcome(judge_failure(camera, utcnow(), "offline", "timeout", self._rng))
        except NotAnImage as exc:
            return PollOutcome(judge_failure(camera, utcnow(), "offline", exc.reason, self._rng))
        if not force_store and is_unchanged(camera, fetched.check):
            return PollOutcome(judge(camera, fetched, None, self._rng))
        try:
            return await self.store_or_spool(camera, fetched)
        except StoreError:
            failed = judge_failure(camera, utcnow(), "degraded", "store unavailable", self._rng)
            return PollOutcome(failed)


def new_snapshot(camera: DueCamera, fetched: Fetched) -> NewSnapshot:
    """The row-to-be of a fetched picture, with its object keys."""
    key, thumb = snapshot_keys(
        camera.department_id, camera.camera_id, fetched.received_at, fetched.sha256
    )
    check = fetched.check
    return NewSnapshot(
        captured_at=fetched.received_at,
        width=check.width,
        height=check.height,
        bytes=len(fetched.data),
        sha256=fetched.sha256,
        phash=check.phash,
        object_key=key,
        thumb_key=thumb,
        brightness=check.brightness,
        sharpness=check.sharpness,
        flags=check.flags,
    )
