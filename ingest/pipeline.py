"""One poll of one camera: fetch, check the picture, store it, judge the camera.

The judgement is a pure function (`judge`) so the rules that decide what an
operator sees — online, degraded with a reason, offline with a reason — are
tested without any I/O. The objects are written before their row exists
(the row is written later by the recorder), so no row ever points at a
missing object.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta

from catalog.models import utcnow
from catalog.polls import DueCamera, NewSnapshot, PollResult
from catalog.store import ObjectStore, StoreError, snapshot_key
from ingest.connectors import CameraTarget, SnapshotConnector, SnapshotError
from ingest.image import PHASH_SAME_DISTANCE as PHASH_SAME
from ingest.image import ImageCheck, NotAnImage, hamming, inspect_jpeg

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


def next_due(camera: DueCamera, now: datetime, failures: int, rng: random.Random) -> datetime:
    """When to poll again: the cadence on success, exponential backoff on failure."""
    interval = camera.interval_s
    if failures:
        delay = min(interval * 2 ** min(failures - 1, 10), max(interval, MAX_BACKOFF_S))
        return now + timedelta(seconds=delay * rng.uniform(0.9, 1.1))
    jitter = timedelta(seconds=interval * rng.uniform(-0.05, 0.05))
    planned = camera.due_at + timedelta(seconds=interval) + jitter
    if planned <= now:  # behind schedule: start a fresh cadence instead of bursting
        return now + timedelta(seconds=interval * rng.uniform(0.0, 0.1))
    return planned


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
    """Whether the picture looks the same as the last stored one."""
    return camera.last_phash is not None and hamming(check.phash, camera.last_phash) <= PHASH_SAME


def _check(data: bytes) -> tuple[str, ImageCheck]:
    return hashlib.sha256(data).hexdigest(), inspect_jpeg(data)


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
    ) -> None:
        self._connectors = connectors
        self._store = store
        self._target_for = target_for
        self._executor = executor
        self._rng = rng or random.Random()

    async def fetch(self, camera: DueCamera) -> Fetched:
        """Fetch and check one picture; raises SnapshotError or NotAnImage."""
        connector = self._connectors.get(camera.kind)
        if connector is None:
            raise SnapshotError(f"no connector for kind {camera.kind!r}")
        target = self._target_for(camera)
        # The connector enforces the camera's timeout; this outer bound is a backstop.
        data = await asyncio.wait_for(connector.fetch(target), camera.timeout_s + 5.0)
        received_at = utcnow()
        loop = asyncio.get_running_loop()
        sha256, check = await loop.run_in_executor(self._executor, _check, data)
        return Fetched(data, sha256, check, received_at)

    async def store(self, camera: DueCamera, fetched: Fetched) -> NewSnapshot:
        """Put the picture and its thumbnail in the store; the row comes later."""
        key = snapshot_key(
            "img", camera.department_id, camera.camera_id, fetched.received_at, fetched.sha256
        )
        thumb = snapshot_key(
            "thumb", camera.department_id, camera.camera_id, fetched.received_at, fetched.sha256
        )
        await asyncio.gather(
            self._store.put(key, fetched.data), self._store.put(thumb, fetched.check.thumb)
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

    async def poll(self, camera: DueCamera, *, force_store: bool = False) -> PollResult:
        """One complete poll. Never raises for a camera's fault.

        With `force_store` (an on-demand capture) the picture is stored even when
        it looks the same as the last stored one.
        """
        try:
            fetched = await self.fetch(camera)
        except SnapshotError as exc:
            return judge_failure(camera, utcnow(), "offline", exc.reason, self._rng)
        except TimeoutError:
            return judge_failure(camera, utcnow(), "offline", "timeout", self._rng)
        except NotAnImage as exc:
            return judge_failure(camera, utcnow(), "offline", exc.reason, self._rng)
        if not force_store and is_unchanged(camera, fetched.check):
            return judge(camera, fetched, None, self._rng)
        try:
            snapshot = await self.store(camera, fetched)
        except StoreError:
            return judge_failure(camera, utcnow(), "degraded", "store unavailable", self._rng)
        return judge(camera, fetched, snapshot, self._rng)
