"""An ingest worker: the shared HTTP session, the thread pool, connectors, pipeline, scheduler.

`run_worker` owns every resource it opens and closes them when `stop` is set,
after in-flight polls are drained and their results recorded.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from catalog.db import Catalog
from catalog.store import ObjectStore
from config import LoadedConfig
from ingest.connectors import ConnectorContext, make_connectors
from ingest.pipeline import SnapshotPipeline
from ingest.scheduler import Scheduler, SchedulerSettings
from ingest.targets import TargetBook


@dataclass(frozen=True)
class WorkerSettings:
    """Tunables of one worker process."""

    concurrency: int = 64
    per_host: int = 8
    lease_s: float = 15.0
    image_threads: int = max(2, os.cpu_count() or 2)


def worker_name() -> str:
    """A name that tells the workers of a deployment apart in leases and logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


@asynccontextmanager
async def open_scheduler(
    loaded: LoadedConfig, catalog: Catalog, store: ObjectStore, settings: WorkerSettings
) -> AsyncIterator[Scheduler]:
    """A ready scheduler with its HTTP session and thread pool; closes them after."""
    executor = ThreadPoolExecutor(settings.image_threads, thread_name_prefix="image")
    connector = aiohttp.TCPConnector(limit=settings.concurrency * 2, limit_per_host=0)
    session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
    try:
        connectors = make_connectors(ConnectorContext(session=session, executor=executor))
        pipeline = SnapshotPipeline(connectors, store, TargetBook(loaded.departments), executor)
        yield Scheduler(
            catalog,
            pipeline,
            SchedulerSettings(
                owner=worker_name(),
                concurrency=settings.concurrency,
                per_host=settings.per_host,
                lease_s=settings.lease_s,
            ),
        )
    finally:
        await session.close()
        executor.shutdown(wait=True, cancel_futures=True)


async def run_worker(
    loaded: LoadedConfig,
    catalog: Catalog,
    store: ObjectStore,
    stop: asyncio.Event,
    settings: WorkerSettings | None = None,
) -> None:
    """Poll cameras until `stop` is set."""
    async with open_scheduler(loaded, catalog, store, settings or WorkerSettings()) as scheduler:
        await scheduler.run(stop)
