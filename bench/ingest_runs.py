"""The processes of the ingest benchmark: the camera farm, the reference, and camgrid.

Each runs in a process of its own (``multiprocessing``, spawned), so that the farm's
event loop never competes with the measured one inside a process and each measured
pipeline's peak RSS is its own. Results come back through a pipe as plain dicts.

Latency is measured the same way for both: from the start of the GET to the moment
the picture's objects are stored (the reference's file is written; camgrid's image
and thumbnail are both put). camgrid's catalog row is written later, in batches,
and is not part of it. In camgrid it is observed from outside the pipeline: the
``http`` entry of the connector registry is wrapped for the start, the store for the
end; nothing in ``ingest`` changes for the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import resource
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import cv2
import numpy as np
import yaml

if TYPE_CHECKING:
    from catalog.db import Catalog

FARM_SEED = 11
DEPARTMENT = "bench"


@dataclass(frozen=True)
class RunPlan:
    """What one measured run does: the cameras, the concurrency and the time window."""

    urls: tuple[str, ...]
    concurrency: int
    image_threads: int
    warmup_s: float
    window_s: float
    #: seconds between two polls of one camera; 0: always due (demand above capacity)
    interval_s: float = 0.0
    #: a folder to write under that the caller removes after all runs (None: a temporary
    #: folder of the run's own, removed as the run ends)
    scratch: str | None = None


@contextlib.contextmanager
def run_folder(plan: RunPlan, prefix: str) -> Iterator[Path]:
    """A fresh folder for one run's files: under ``plan.scratch`` (left there), else temporary.

    Why leave them: on ext4 without a journal (this machine's disk), making a file
    skips every inode freed in the last minute or more of its block group, one by
    one; removing one run's ten thousand or more objects as it ends made each file
    the next runs created cost up to 0.5 ms more CPU (measured with plain
    ``open(O_CREAT)``), a cost of the benchmark's own cleanup, not of either pipeline.
    """
    if plan.scratch is None:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)
    else:
        yield Path(tempfile.mkdtemp(prefix=prefix, dir=plan.scratch))


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50 and p99 of ``values`` (seconds) in milliseconds (None when there are none)."""
    if not values:
        return {"p50_latency_ms": None, "p99_latency_ms": None}
    p50, p99 = np.percentile(np.asarray(values) * 1000.0, [50, 99])
    return {"p50_latency_ms": round(float(p50), 1), "p99_latency_ms": round(float(p99), 1)}


def combine(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rates, CPU per snapshot, latency percentiles and peak RSS over several runs."""
    window = sum(r["window_s"] for r in runs)
    seen = sum(r["seen"] for r in runs)
    out: dict[str, Any] = {
        "snapshots_per_s": round(seen / window, 1),
        "cpu_ms_per_snapshot": round(sum(r["cpu_s"] for r in runs) * 1000 / max(seen, 1), 2),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "failed": sum(r["failed"] for r in runs),
        **percentiles([lat for r in runs for lat in r["latencies"]]),
    }
    for name in ("stored", "unchanged", "recorded"):
        if name in runs[0]:
            out[f"{name}_per_s"] = round(sum(r[name] for r in runs) / window, 1)
    return out


# -- the farm -------------------------------------------------------------------------


def farm_process(
    cameras: int, width: int, height: int, change_every: float, ready: Connection, stop: Event
) -> None:
    """Serve ``cameras`` changing, unauthenticated farm cameras until ``stop`` is set."""
    asyncio.run(_serve_farm(cameras, width, height, change_every, ready, stop))


async def _serve_farm(
    cameras: int, width: int, height: int, change_every: float, ready: Connection, stop: Event
) -> None:
    from ingest.farm import CameraFarm, FarmCamera

    # every camera 'changing' and without auth, so both pipelines make the same requests
    planned = [FarmCamera.make(i, "changing", "none", seed=FARM_SEED) for i in range(cameras)]
    farm = CameraFarm(
        planned, seed=FARM_SEED, width=width, height=height, change_every=change_every
    )
    await farm.start("127.0.0.1", 0)
    try:
        frames = [len(f) for scene in farm.frames.scenes.values() for f in scene]
        ready.send({"urls": [farm.url(i) for i in range(cameras)], "frame_bytes": frames})
        await asyncio.to_thread(stop.wait)
    finally:
        await farm.stop()


# -- the reference ----------------------------------------------------------------------


def reference_process(plan: RunPlan, out: Connection) -> None:
    """The minimal pipeline: GET, one reduced decode, one new file; results to ``out``.

    Each snapshot is written to a file of its own, as a store of snapshots
    must keep each one; writing over one file per camera would keep only the
    latest picture, and skip the cost of making a file that every store pays.
    """
    out.send(asyncio.run(_reference(plan)))


def _decode(data: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
    if image is None:
        raise ValueError("undecodable")
    return int(image.shape[1]), int(image.shape[0])


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


async def _reference(plan: RunPlan) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(plan.image_threads, thread_name_prefix="image")
    done: list[float] = []  # finish times
    latencies: list[tuple[float, float]] = []  # (finish, latency)
    failures = 0
    turn = 0
    stored = itertools.count()
    started = time.monotonic()
    deadline = started + plan.warmup_s + plan.window_s

    async def worker(session: aiohttp.ClientSession, folder: Path) -> None:
        nonlocal turn, failures
        while time.monotonic() < deadline:
            index = turn % len(plan.urls)
            turn += 1
            t0 = time.monotonic()
            try:
                async with session.get(plan.urls[index]) as response:
                    data = await response.read()
                await loop.run_in_executor(pool, _decode, data)
                await asyncio.to_thread(_write, folder / f"{index}-{next(stored)}.jpg", data)
            except (aiohttp.ClientError, ValueError, OSError):
                failures += 1
                continue
            t1 = time.monotonic()
            done.append(t1)
            latencies.append((t1, t1 - t0))

    slots = asyncio.Semaphore(plan.concurrency)

    async def camera(session: aiohttp.ClientSession, folder: Path, index: int) -> None:
        """Paced: this camera is due every ``interval_s``, at a random phase."""
        nonlocal failures
        due = started + random.Random(index).uniform(0.0, plan.interval_s)
        while due < deadline:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += plan.interval_s
            async with slots:
                t0 = time.monotonic()
                try:
                    async with session.get(plan.urls[index]) as response:
                        data = await response.read()
                    await loop.run_in_executor(pool, _decode, data)
                    await asyncio.to_thread(_write, folder / f"{index}-{next(stored)}.jpg", data)
                except (aiohttp.ClientError, ValueError, OSError):
                    failures += 1
                    continue
            t1 = time.monotonic()
            done.append(t1)
            latencies.append((t1, t1 - t0))

    async def cpu_in_window() -> float:
        await asyncio.sleep(plan.warmup_s)
        before = time.process_time()
        await asyncio.sleep(plan.window_s)
        return time.process_time() - before

    connector = aiohttp.TCPConnector(limit=plan.concurrency * 2, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=10.0)
    with run_folder(plan, "camgrid-bench-ref-") as tmp:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            cpu = asyncio.create_task(cpu_in_window())
            if plan.interval_s > 0:
                cameras = (camera(session, tmp, i) for i in range(len(plan.urls)))
                await asyncio.gather(*cameras)
            else:
                await asyncio.gather(*(worker(session, tmp) for _ in range(plan.concurrency)))
            cpu_s = await cpu
    pool.shutdown()
    window_start = started + plan.warmup_s
    return {
        "window_s": plan.window_s,
        "seen": sum(1 for t in done if window_start <= t < deadline),
        "cpu_s": cpu_s,
        "failed": failures,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "latencies": [lat for t, lat in latencies if window_start <= t < deadline],
    }


# -- camgrid ----------------------------------------------------------------------------


def camgrid_process(plan: RunPlan, out: Connection) -> None:
    """camgrid's whole pipeline on the embedded default (SQLite + LocalStore)."""
    out.send(asyncio.run(_camgrid(plan)))


def write_config(root: Path, urls: Sequence[str], interval_s: float = 0.0) -> None:
    """A config folder of one department polled every ``interval_s`` (0: always due).

    Always due is an interval of 1 s, the shortest a config takes: far less than
    the time a round of thousands of cameras takes.
    """
    (root / "departments").mkdir(parents=True)
    (root / "grids").mkdir()
    document = {
        "department": {"id": DEPARTMENT, "name": "基准测试"},
        "defaults": {"interval": f"{max(1, round(interval_s))}s", "timeout": "10s"},
        "cameras": [
            {
                "id": f"cam-{i:05d}",
                "name": f"基准摄像机{i}",
                "snapshot": {"kind": "http", "url": url},
            }
            for i, url in enumerate(urls)
        ],
    }
    (root / "departments" / f"{DEPARTMENT}.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


class Stopwatch:
    """GET start per camera uid, and the latency of every stored picture."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.puts: dict[str, int] = {}
        self.latencies: list[tuple[float, float]] = []  # (stored at, latency)

    def start(self, uid: str) -> None:
        self.started[uid] = time.monotonic()
        self.puts[uid] = 0

    def put(self, key: str) -> None:
        _, department, camera, *_ = key.split("/")
        uid = f"{department}:{camera}"
        self.puts[uid] = self.puts.get(uid, 0) + 1
        if self.puts[uid] == 2 and uid in self.started:  # the image and its thumbnail
            now = time.monotonic()
            self.latencies.append((now, now - self.started[uid]))


class TimedConnector:
    """The real http connector, with the GET start of each poll noted."""

    def __init__(self, inner: Any, watch: Stopwatch) -> None:
        self._inner = inner
        self._watch = watch

    async def fetch(self, target: Any) -> bytes:
        self._watch.start(target.uid)
        data: bytes = await self._inner.fetch(target)
        return data


class TimedStore:
    """The real store, with the end of each put noted."""

    def __init__(self, inner: Any, watch: Stopwatch) -> None:
        self._inner = inner
        self._watch = watch

    async def put(
        self, key: str, data: bytes, content_type: str = "image/jpeg", *, durable: bool = True
    ) -> None:
        await self._inner.put(key, data, content_type, durable=durable)
        self._watch.put(key)

    async def put_snapshot(
        self, image_key: str, image: bytes, thumb_key: str, thumb: bytes
    ) -> None:
        await self._inner.put_snapshot(image_key, image, thumb_key, thumb)
        self._watch.put(image_key)
        self._watch.put(thumb_key)

    async def get(self, key: str) -> bytes:
        data: bytes = await self._inner.get(key)
        return data

    async def stat(self, key: str) -> Any:
        return await self._inner.stat(key)

    async def delete(self, key: str) -> None:
        await self._inner.delete(key)

    async def presign(self, key: str, expires: timedelta) -> str | None:
        url: str | None = await self._inner.presign(key, expires)
        return url

    def iter_keys(self, prefix: str = "") -> AsyncIterator[str]:
        keys: AsyncIterator[str] = self._inner.iter_keys(prefix)
        return keys

    async def close(self) -> None:
        await self._inner.close()


async def _spread_first_polls(catalog: Catalog, interval_s: float) -> None:
    """Spread the first polls over one whole interval, as a long-running worker has them.

    A fresh sync spreads them over at most ``catalog.sync.FIRST_POLL_SPREAD_S``: with
    a longer interval that would be a burst, then a lull, not a steady demand.
    """
    from sqlalchemy import bindparam, select, update

    from catalog.models import Camera, utcnow

    table = Camera.metadata.tables[Camera.__tablename__]
    now = utcnow()
    async with catalog.sessions() as session, session.begin():
        uids = (await session.execute(select(table.c.uid))).scalars().all()
        rng = random.Random(FARM_SEED)
        due = [
            {"_uid": uid, "next_due_at": now + timedelta(seconds=rng.uniform(0, interval_s))}
            for uid in uids
        ]
        await session.execute(update(table).where(table.c.uid == bindparam("_uid")), due)


async def _camgrid(plan: RunPlan) -> dict[str, Any]:
    from catalog.db import migrate, open_catalog
    from catalog.models import utcnow
    from catalog.store import open_store
    from catalog.sync import sync_config
    from config import load_config
    from ingest import connectors
    from ingest.connectors import HttpSnapshotConnector
    from ingest.worker import WorkerSettings, open_scheduler

    watch = Stopwatch()
    # the registry is the connectors' one extension point: wrap its http entry
    connectors.SNAPSHOT_CONNECTORS["http"] = lambda ctx: TimedConnector(
        HttpSnapshotConnector(ctx), watch
    )
    with run_folder(plan, "camgrid-bench-") as root:
        write_config(root / "config", plan.urls, plan.interval_s)
        loaded = load_config(root / "config")
        catalog = open_catalog(f"sqlite+aiosqlite:///{root / 'catalog.db'}")
        store = TimedStore(open_store("file:objects", base_dir=root), watch)
        try:
            await migrate(catalog)
            async with catalog.sessions() as session, session.begin():
                await sync_config(session, loaded.departments, loaded.grid_cells, utcnow())
            if plan.interval_s > 0:
                await _spread_first_polls(catalog, plan.interval_s)
            settings = WorkerSettings(
                concurrency=plan.concurrency,
                per_host=plan.concurrency,  # the farm is one host; a real district is many
                image_threads=plan.image_threads,
            )
            async with open_scheduler(loaded, catalog, store, settings) as scheduler:
                stop = asyncio.Event()
                runner = asyncio.create_task(scheduler.run(stop))
                await asyncio.sleep(plan.warmup_s)
                before = scheduler.counters.__dict__.copy()
                window_start, cpu_start = time.monotonic(), time.process_time()
                await asyncio.sleep(plan.window_s)
                after = scheduler.counters.__dict__.copy()
                window_end, cpu_s = time.monotonic(), time.process_time() - cpu_start
                stop.set()
                await runner
        finally:
            await store.close()
            await catalog.close()
    delta = {k: after[k] - before[k] for k in after}
    return {
        "window_s": window_end - window_start,
        "seen": delta["stored"] + delta["unchanged"],
        "stored": delta["stored"],
        "unchanged": delta["unchanged"],
        "recorded": delta["recorded"],
        "failed": delta["failed"],
        "cpu_s": cpu_s,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "latencies": [lat for t, lat in watch.latencies if window_start <= t < window_end],
    }
