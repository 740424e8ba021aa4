"""An ingest worker: the shared HTTP session, the thread pool, connectors, pipeline, scheduler.

`run_worker` runs the scheduler and, beside it, the capture runner (on-demand
captures through the scheduler's pipeline) and the inventory runner (which
pulls departments' camera lists through the same HTTP session). It owns every
resource it opens and closes them when `stop` is set, after in-flight polls are
drained and their results recorded. With a spool folder, pictures captured
while the object store is away are spooled, and a replayer task beside the
scheduler uploads them and writes their rows once the store is back. Where a
retention applies (a department's `defaults.retention`, else the service's
`retention`), a retention task expires old snapshots every hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp

from catalog.db import Catalog
from catalog.grid import GridIndex
from catalog.models import utcnow
from catalog.retention import department_retention, expire_snapshots
from catalog.store import ObjectStore
from config import LoadedConfig
from ingest.captures import CaptureRunner, CaptureSettings
from ingest.connectors import ConnectorContext, make_connectors
from ingest.gb28181 import running_gb28181
from ingest.inventory.sync import InventoryRunner, InventoryRunnerSettings, open_fetchers
from ingest.pipeline import SnapshotPipeline
from ingest.scheduler import Scheduler, SchedulerSettings
from ingest.spool import Spool, replay_spool
from ingest.targets import TargetBook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """Tunables of one worker process."""

    concurrency: int = 64
    per_host: int = 8
    lease_s: float = 15.0
    image_threads: int = max(2, os.cpu_count() or 2)
    inventories: bool = True  # run the departments' inventories beside the polls
    inventory_concurrency: int = 4
    spool_dir: Path | None = None  # None: no spool (a store outage fails polls)
    spool_max_bytes: int = 1 << 30
    grace_s: float = 10.0  # how long in-flight polls may finish after stop
    retention_every_s: float = 3600.0  # how often old snapshots are expired


def worker_name() -> str:
    """A name that tells the workers of a deployment apart in leases and logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@asynccontextmanager
async def _http_session(settings: WorkerSettings) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=settings.concurrency * 2, limit_per_host=0)
    session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
    try:
        yield session
    finally:
        await session.close()


@asynccontextmanager
async def _scheduler(
    loaded: LoadedConfig,
    catalog: Catalog,
    store: ObjectStore,
    settings: WorkerSettings,
    session: aiohttp.ClientSession,
) -> AsyncIterator[Scheduler]:
    executor = ThreadPoolExecutor(settings.image_threads, thread_name_prefix="image")
    connectors = make_connectors(ConnectorContext(session=session, executor=executor))
    spool = Spool(settings.spool_dir, settings.spool_max_bytes) if settings.spool_dir else None
    try:
        pipeline = SnapshotPipeline(
            connectors, store, TargetBook(loaded.departments), executor, spool=spool
        )
        yield Scheduler(
            catalog,
            pipeline,
            SchedulerSettings(
                owner=worker_name(),
                concurrency=settings.concurrency,
                per_host=settings.per_host,
                lease_s=settings.lease_s,
                grace_s=settings.grace_s,
            ),
        )
    finally:
        for connector in connectors.values():
            close = getattr(connector, "close", None)  # connectors with a pool of their own
            if close is not None:
                close()
        executor.shutdown(wait=True, cancel_futures=True)


@asynccontextmanager
async def open_scheduler(
    loaded: LoadedConfig, catalog: Catalog, store: ObjectStore, settings: WorkerSettings
) -> AsyncIterator[Scheduler]:
    """A ready scheduler with its HTTP session and thread pool; closes them after."""
    async with (
        _http_session(settings) as session,
        _scheduler(loaded, catalog, store, settings, session) as scheduler,
    ):
        yield scheduler


@asynccontextmanager
async def open_inventory_runner(
    loaded: LoadedConfig,
    catalog: Catalog,
    settings: WorkerSettings,
    session: aiohttp.ClientSession,
) -> AsyncIterator[InventoryRunner]:
    """An inventory runner over `session`, with its own two threads for files; closes them after."""
    async with open_fetchers(session) as fetchers:
        yield InventoryRunner(
            catalog,
            loaded.departments,
            GridIndex(loaded.grid_cells),
            fetchers,
            InventoryRunnerSettings(
                owner=worker_name(),
                lease_s=settings.lease_s,
                concurrency=settings.inventory_concurrency,
            ),
        )


async def run_worker(
    loaded: LoadedConfig,
    catalog: Catalog,
    store: ObjectStore,
    stop: asyncio.Event,
    settings: WorkerSettings | None = None,
) -> None:
    """Poll cameras, and run inventories, until `stop` is set."""
    settings = settings or WorkerSettings()
    async with (
        _http_session(settings) as session,
        _scheduler(loaded, catalog, store, settings, session) as scheduler,
        open_inventory_runner(loaded, catalog, settings, session) as runner,
        running_gb28181(loaded, catalog, worker_name()),  # SIP, in the gb28181 lease holder
        asyncio.TaskGroup() as group,
    ):
        group.create_task(scheduler.run(stop), name="scheduler")
        pipeline = scheduler.pipeline
        if pipeline.spool is not None:
            spool = pipeline.spool
            group.create_task(
                scheduler.metrics.track_spool(lambda: (len(spool), spool.bytes), stop),
                name="spool gauges",
            )
            if len(pipeline.spool):  # left by an earlier run: replay before trusting the store
                pipeline.store_down = True
            group.create_task(
                replay_spool(pipeline.spool, store, catalog, stop, pipeline.store_back),
                name="spool replay",
            )
        captures = CaptureRunner(
            catalog,
            scheduler.pipeline,
            CaptureSettings(owner=worker_name(), lease_s=settings.lease_s),
        )
        group.create_task(captures.run(stop), name="captures")
        if settings.inventories:
            group.create_task(runner.run(stop), name="inventories")
        keeps = department_retention(
            {d.id: d.defaults.retention for d in loaded.departments}, loaded.settings.retention
        )
        if keeps:
            group.create_task(
                run_retention(catalog, store, keeps, stop, settings.retention_every_s),
                name="retention",
            )


async def run_retention(
    catalog: Catalog,
    store: ObjectStore,
    keeps: Mapping[str, timedelta],
    stop: asyncio.Event,
    every_s: float,
) -> None:
    """Expire old snapshots every `every_s` seconds until `stop` (a failed pass waits too)."""
    while not stop.is_set():
        try:
            report = await expire_snapshots(catalog, store, keeps, utcnow())
        except Exception:  # the database or the store is away: the next pass catches up
            log.exception("retention pass failed")
        else:
            if report.rows:
                log.info("retention: %d snapshots expired", report.rows)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
