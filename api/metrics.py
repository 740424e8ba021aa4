"""Prometheus metrics of the API: request latency by route, method and status; catalog gauges.

Each app has its own registry (not the process-wide default), so several
apps in one process (tests) never collide. `/api/v1/metrics` also shows the
process-wide default registry, which is where an ingest worker running in the
same process (`camgrid serve` without `--no-ingest`) keeps its metrics, so one
scrape sees both. Cameras by department and status, and the cameras under a
live poll lease, are counted from the catalog at scrape time, so every API
process of a deployment answers the same.

Several API processes on one port (`camgrid serve --api-processes N`) share
their metrics through prometheus_client's multiprocess mode
(:func:`shared_between_processes`): every counter, histogram and gauge is kept
in a file of its process in one folder, and a scrape, whichever process takes
it, adds up the files of all of them: the requests every process answered and
the ingest worker's counts. The per-process collectors of the default
registry (CPU, memory, garbage collection of the process) are left out then,
as they describe one process of several.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from catalog.db import Catalog
from catalog.models import utcnow
from catalog.queries.stats import camera_counts

__all__ = [
    "METRICS",
    "SHARED_METRICS_ENV",
    "ApiMetrics",
    "CatalogCounts",
    "metrics_middleware",
    "new_metrics",
    "remove_abandoned_metrics",
    "render_metrics",
    "shared_between_processes",
]

log = logging.getLogger(__name__)
#: how long a scrape waits for the catalog's counts before answering without them
CATALOG_TIMEOUT_S: Final = 2.0
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: prometheus_client's multiprocess folder: set, every process keeps its metrics in files there
SHARED_METRICS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
SHARED_METRICS_PREFIX: Final = "camgrid-metrics-"
#: how old a shared metrics folder with no live process must be to be taken as abandoned
ABANDONED_AFTER_S: Final = 60.0
#: the pid of the service a shared metrics folder belongs to (not `*.db`: those are metrics)
SERVICE_PID_FILE: Final = "service.pid"
_FILE_PID: Final = re.compile(r"_(\d+)\.db$")  # counter_1234.db, gauge_livesum_1234.db, ...


class CatalogCounts(Collector):
    """Cameras by department and status, and those under a live lease, as last counted.

    A collector rather than gauges: the figures are the catalog's, read at each
    scrape, never a value kept (or, with several processes, added up) by a process.
    """

    def __init__(self) -> None:
        self._cameras: Mapping[tuple[str, str], int] | None = None
        self._leased = 0

    def set(self, cameras: Mapping[tuple[str, str], int] | None, leased: int = 0) -> None:
        """The counts to show; None: the catalog could not be counted (none are shown)."""
        self._cameras, self._leased = cameras, leased

    def collect(self) -> Iterable[Metric]:
        if self._cameras is None:
            return
        cameras = GaugeMetricFamily(
            "camgrid_cameras",
            "Cameras in the catalog by department and status.",
            labels=("department", "status"),
        )
        for (department, status), n in sorted(self._cameras.items()):
            cameras.add_metric((department, status), n)
        yield cameras
        yield GaugeMetricFamily(
            "camgrid_cameras_leased",
            "Cameras under a live poll lease (being polled by some worker).",
            value=self._leased,
        )


@dataclass(frozen=True)
class ApiMetrics:
    """The registry of one app and the metrics in it."""

    registry: CollectorRegistry
    latency: Histogram
    catalog: CatalogCounts


METRICS = web.AppKey("metrics", ApiMetrics)


def new_metrics() -> ApiMetrics:
    """A fresh registry with the API's metrics."""
    registry = CollectorRegistry()
    latency = Histogram(
        "camgrid_api_request_duration_seconds",
        "Time to answer an API request, by route template, method and status.",
        ("route", "method", "status"),
        registry=registry,
        buckets=_BUCKETS,
    )
    catalog = CatalogCounts()
    registry.register(catalog)
    return ApiMetrics(registry, latency, catalog)


async def refresh_catalog_gauges(metrics: ApiMetrics, catalog: Catalog) -> None:
    """Count the cameras in the catalog; on a slow or lost database, show no counts."""
    try:
        async with asyncio.timeout(CATALOG_TIMEOUT_S), catalog.sessions() as session:
            counts, leased = await camera_counts(session, utcnow())
    except Exception:  # a scrape still answers with what this process knows
        log.warning("metrics: cannot count cameras in the catalog", exc_info=True)
        metrics.catalog.set(None)
        return
    metrics.catalog.set(counts, leased)


async def render_metrics(metrics: ApiMetrics, catalog: Catalog | None = None) -> web.Response:
    """The metrics in Prometheus' text exposition format.

    One process: this app's registry, then the process-wide one. Processes
    sharing their metrics: the sum over every process's files, then the
    catalog's counts.
    """
    if catalog is not None:
        await refresh_catalog_gauges(metrics, catalog)
    shared = os.environ.get(SHARED_METRICS_ENV)
    if shared:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
        registry.register(metrics.catalog)
        body = await asyncio.to_thread(generate_latest, registry)  # reads the files
    else:
        body = generate_latest(metrics.registry) + generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@contextmanager
def shared_between_processes() -> Iterator[Path]:
    """Keep this process's metrics, and those of the processes it starts, in one folder.

    For `camgrid serve --api-processes N`: entered before any metric is made,
    it sets `SHARED_METRICS_ENV` (which the processes it starts inherit, and
    which makes prometheus_client keep their metrics in files there) and turns
    the same mode on in this process, where prometheus_client was imported
    before. The folder is removed, and the mode turned off, on exit; the
    folders of earlier services that were killed before they could remove
    theirs are removed first (`remove_abandoned_metrics`).
    """
    remove_abandoned_metrics(Path(tempfile.gettempdir()))
    folder = Path(tempfile.mkdtemp(prefix=SHARED_METRICS_PREFIX))
    (folder / SERVICE_PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
    previous = os.environ.get(SHARED_METRICS_ENV)
    value_class = values.ValueClass
    os.environ[SHARED_METRICS_ENV] = str(folder)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    try:
        yield folder
    finally:
        values.ValueClass = value_class
        if previous is None:
            del os.environ[SHARED_METRICS_ENV]
        else:
            os.environ[SHARED_METRICS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


def remove_abandoned_metrics(parent: Path) -> list[Path]:
    """Remove the shared metrics folders under `parent` whose processes are all gone.

    What a service killed with SIGKILL leaves behind (its extra API processes
    stop without it): about a megabyte per file, a few files per process. The
    processes are those named in the files' names and in `SERVICE_PID_FILE`
    (the service's own, there before any metric is). A folder younger than
    `ABANDONED_AFTER_S` is left alone, even with no pid in it: its service
    may be starting. Returns the folders removed.
    """
    now = time.time()
    removed = []
    for folder in parent.glob(f"{SHARED_METRICS_PREFIX}*"):
        try:
            if not folder.is_dir() or now - folder.stat().st_mtime < ABANDONED_AFTER_S:
                continue
            pids = {int(m.group(1)) for f in folder.iterdir() if (m := _FILE_PID.search(f.name))}
            owner = folder / SERVICE_PID_FILE
            written = owner.read_text(encoding="ascii").strip() if owner.exists() else ""
            if written:  # empty: killed between making the folder and writing it
                pids.add(int(written))
        except (OSError, ValueError):  # removed meanwhile, not ours to read, not a pid
            continue
        if not any(_alive(pid) for pid in pids):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
                log.info("removed the metrics of a service that is gone: %s", folder)
    return removed


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request; labels use the route template, so uids do not explode them."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].latency.labels(route, request.method, str(status)).observe(
            time.perf_counter() - started
        )
