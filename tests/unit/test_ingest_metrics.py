"""The ingest worker's gauges of the spool: set from the spool's depth until the worker stops."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from ingest.metrics import new_ingest_metrics


async def test_the_spool_gauges_follow_the_spool_until_stop() -> None:
    registry = CollectorRegistry()
    metrics = new_ingest_metrics(registry)
    depth = [(0, 0)]
    stop = asyncio.Event()
    tracking = asyncio.create_task(metrics.track_spool(lambda: depth[0], stop, every_s=0.01))

    def shown() -> tuple[float | None, float | None]:
        return (
            registry.get_sample_value("camgrid_ingest_spool_files"),
            registry.get_sample_value("camgrid_ingest_spool_bytes"),
        )

    await asyncio.sleep(0.05)
    assert shown() == (0.0, 0.0)
    depth[0] = (3, 1_200_000)
    await asyncio.sleep(0.05)
    assert shown() == (3.0, 1_200_000.0)
    stop.set()
    await asyncio.wait_for(tracking, 1.0)
    depth[0] = (5, 9)  # no longer read
    await asyncio.sleep(0.05)
    assert shown() == (3.0, 1_200_000.0)
