"""Prometheus metrics of the API: request latency by route, method and status.

Each app has its own registry (not the process-wide default), so several
apps in one process (tests, or API and ingest side by side) never collide.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

__all__ = ["METRICS", "ApiMetrics", "metrics_middleware", "new_metrics", "render_metrics"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ApiMetrics:
    """The registry of one app and the metrics in it."""

    registry: CollectorRegistry
    latency: Histogram


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
    return ApiMetrics(registry, latency)


def render_metrics(metrics: ApiMetrics) -> web.Response:
    """The registry in Prometheus' text exposition format."""
    return web.Response(
        body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


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
