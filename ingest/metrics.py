"""Prometheus metrics of an ingest worker: polls by department and outcome, fetch latency, leases.

They live in the process-wide default registry (`prometheus_client.REGISTRY`)
so that whatever serves metrics in the same process shows them: the API's
`/api/v1/metrics` when API and ingest share a process (`camgrid serve`), or
the small exporter that `camgrid serve --no-api --metrics-port PORT` starts.
They are registered the first time a worker asks for them, so a process that
runs the API alone shows no ingest metrics at all (rather than zeros).

Labels are department ids (from the config: short names, never a secret) and
fixed words; never a camera URL, a host or a uid.

The gauges are set, never computed at scrape time, and add up across processes
(`livesum`), so that where several API processes share their metrics
(`api.metrics.shared_between_processes`) a scrape of any of them shows the
worker's figures: the spool's depth is read every second (`track_spool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from catalog.polls import PollResult

__all__ = [
    "OUTCOMES",
    "IngestMetrics",
    "ingest_metrics",
    "new_ingest_metrics",
    "outcome_label",
    "serve_metrics",
]

#: what a poll came to: a new picture stored (or spooled while the store is away),
#: the same picture again, or no picture
OUTCOMES = ("stored", "spooled", "unchanged", "failed")
_FETCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def outcome_label(result: PollResult, *, spooled: bool = False) -> str:
    """The `outcome` label of a finished poll (one of `OUTCOMES`)."""
    if result.snapshot is not None:
        return "stored"
    if spooled:
        return "spooled"
    return "unchanged" if result.seen else "failed"


@dataclass(frozen=True)
class IngestMetrics:
    """The metrics one worker process updates as it polls."""

    snapshots: Counter  # {department, outcome}
    fetch_seconds: Histogram  # {department, outcome}
    leases: Counter  # cameras leased for a scheduled poll
    leased: Gauge  # cameras leased by this process and not yet recorded
    recorded: Counter  # poll results written to the catalog
    record_failures: Counter  # batches whose write failed (kept and retried)
    spool_bytes: Gauge  # bytes waiting in the local spool
    spool_files: Gauge  # snapshots waiting in the local spool

    def observe_poll(self, department: str, outcome: str, fetch_s: float) -> None:
        """Count one finished poll and its fetch time."""
        self.snapshots.labels(department, outcome).inc()
        self.fetch_seconds.labels(department, outcome).observe(max(0.0, fetch_s))

    async def track_spool(
        self, depth: Callable[[], tuple[int, int]], stop: asyncio.Event, every_s: float = 1.0
    ) -> None:
        """Set the spool gauges from `depth()`, `(files, bytes)`, every `every_s` until `stop`."""
        while True:
            files, size = depth()
            self.spool_files.set(files)
            self.spool_bytes.set(size)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            if stop.is_set():
                return


def new_ingest_metrics(registry: CollectorRegistry) -> IngestMetrics:
    """The worker's metrics, registered in `registry` (a fresh one in tests)."""
    labels = ("department", "outcome")
    return IngestMetrics(
        snapshots=Counter(
            "camgrid_ingest_snapshots",
            "Scheduled polls by department and outcome (stored, spooled, unchanged, failed).",
            labels,
            registry=registry,
        ),
        fetch_seconds=Histogram(
            "camgrid_ingest_fetch_seconds",
            "Time from a poll's start to the camera's answer (or its failure).",
            labels,
            buckets=_FETCH_BUCKETS,
            registry=registry,
        ),
        leases=Counter(
            "camgrid_ingest_leases", "Cameras this worker leased for a poll.", registry=registry
        ),
        leased=Gauge(
            "camgrid_ingest_leased_cameras",
            "Cameras this worker holds a lease on (polling, or waiting to be recorded).",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        recorded=Counter(
            "camgrid_ingest_recorded_results",
            "Poll results written to the catalog.",
            registry=registry,
        ),
        record_failures=Counter(
            "camgrid_ingest_record_failures",
            "Batches of poll results whose write to the catalog failed (they are retried).",
            registry=registry,
        ),
        spool_bytes=Gauge(
            "camgrid_ingest_spool_bytes",
            "Bytes of pictures waiting in the local spool for the object store.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        spool_files=Gauge(
            "camgrid_ingest_spool_files",
            "Pictures waiting in the local spool for the object store.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
    )


@functools.cache
def ingest_metrics() -> IngestMetrics:
    """This process's ingest metrics, in the default registry (registered on first use)."""
    return new_ingest_metrics(REGISTRY)


def serve_metrics(host: str, port: int) -> int:
    """Serve the default registry at `http://host:port/metrics` from a daemon thread.

    For a worker without the API; returns the bound port (useful with port 0).
    """
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_address[1])
