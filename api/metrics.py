"""Prometheus metrics of the API: request latency by route, method and status; catalog gauges.

Each app has its own registry (not the process-wide default), so several
apps in one process (tests) never collide. `/api/v1/metrics` also shows the
process-wide default registry, which is where an ingest worker running in the
same process (`camgrid serve` without `--no-ingest`) keeps its metrics, so one
scrape sees both. Cameras by department and status, and the cameras under a
live poll lease, are counted from the catalog at scrape time, so every API
process of a deployment answers the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)

from catalog.db import Catalog
from catalog.models import utcnow
from catalog.queries.stats import camera_counts

__all__ = ["METRICS", "ApiMetrics", "metrics_middleware", "new_metrics", "render_metrics"]

log = logging.getLogger(__name__)
#: how long a scrape waits for the catalog's counts before answering without them
CATALOG_TIMEOUT_S: Final = 2.0
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ApiMetrics:
    """The registry of one app and the metrics in it."""

    registry: CollectorRegistry
    latency: Histogram
    cameras: Gauge  # {department, status}, from the catalog at scrape time
    leased: Gauge  # cameras under a live poll lease, any worker


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
    cameras = Gauge(
        "camgrid_cameras",
        "Cameras in the catalog by department and status.",
        ("department", "status"),
        registry=registry,
    )
    leased = Gauge(
        "camgrid_cameras_leased",
        "Cameras under a live poll lease (being polled by some worker).",
        registry=registry,
    )
    return ApiMetrics(registry, latency, cameras, leased)


async def refresh_catalog_gauges(metrics: ApiMetrics, catalog: Catalog) -> None:
    """Set the camera gauges from the catalog; on a slow or lost database, drop them."""
    try:
        async with asyncio.timeout(CATALOG_TIMEOUT_S), catalog.sessions() as session:
            counts, leased = await camera_counts(session, utcnow())
    except Exception:  # a scrape still answers with what this process knows
        log.warning("metrics: cannot count cameras in the catalog", exc_info=True)
        metrics.cameras.clear()
        return
    metrics.cameras.clear()  # departments and statuses that vanished must not linger
    for (department, status), n in counts.items():
        metrics.cameras.labels(department, status).set(n)
    metrics.leased.set(leased)


async def render_metrics(metrics: ApiMetrics, catalog: Catalog | None = None) -> web.Response:
    """This app's registry, then the process-wide one, in Prometheus' text exposition format."""
    if catalog is not None:
        await refresh_catalog_gauges(metrics, catalog)
    body = generate_latest(metrics.registry) + generate_latest(REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


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
