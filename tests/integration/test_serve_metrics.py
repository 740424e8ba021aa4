"""API and ingest in one process (`serve` as `camgrid serve` runs it): `/api/v1/metrics`
shows the ingest counters by department beside the API's own.
"""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY, generate_latest

from camgrid.runtime import ServeOptions, opened_catalog, running_api, serve, sync_catalog
from config import LoadedConfig, load_config
from ingest.farm import CameraFarm, FarmCamera
from ingest.worker import WorkerSettings
from tests.integration.workers_rig import (
    DEPARTMENTS,
    READY_TIMEOUT_S,
    by_department,
    samples,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.postgres


def _serve_config(tmp_path: Path, farm: CameraFarm, *, interval: str) -> LoadedConfig:
    """The farm's cameras in a config under `tmp_path`, with a SQLite catalog and a folder store."""
    config = tmp_path / "config"
    write_config(config, farm, interval=interval, timeout="2s")
    (config / "camgrid.toml").write_text(
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "catalog.db"}"\n'
        f'store_url = "file:{tmp_path / "objects"}"\n',
        encoding="utf-8",
    )
    return load_config(config)


async def test_one_process_shows_ingest_counters_in_api_metrics(tmp_path: Path) -> None:
    """`camgrid serve` with API and ingest together: one scrape has both, by department."""
    # Counters live in the test process's registry: earlier tests counted too, so compare.
    before = samples(generate_latest(REGISTRY).decode(), "camgrid_ingest_snapshots_total")
    cameras = [FarmCamera.make(i, "changing") for i in range(6)]
    farm = CameraFarm(cameras, change_every=60.0, width=320, height=180)
    await farm.start()
    try:
        loaded = _serve_config(tmp_path, farm, interval="2s")
        stop_event = asyncio.Event()
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        async with opened_catalog(loaded, tmp_path) as catalog:
            await sync_catalog(catalog, loaded)
            options = ServeOptions(port=0, worker=WorkerSettings(inventories=False))
            task = asyncio.create_task(serve(loaded, catalog, tmp_path, options, stop_event, ready))
            try:
                url = await asyncio.wait_for(ready, READY_TIMEOUT_S)
                await wait_until(
                    lambda: all(n >= 2 for n in farm.requests), 15.0, "two polls of each camera"
                )
                await asyncio.sleep(0.5)  # the second round's results are recorded
                async with aiohttp.ClientSession() as http, http.get(f"{url}api/v1/metrics") as got:
                    assert got.status == 200
                    text = await got.text()
            finally:
                stop_event.set()
                await asyncio.wait_for(task, 20)
    finally:
        await farm.stop()
    after = samples(text, "camgrid_ingest_snapshots_total")
    polls = {labels: n - before.get(labels, 0) for labels, n in after.items()}
    mine = {
        labels: n
        for labels, n in polls.items()
        if dict(labels)["department"] in DEPARTMENTS and n > 0
    }
    assert {dict(labels)["outcome"] for labels in mine} <= {"stored", "unchanged"}
    for department in DEPARTMENTS:
        stored = polls.get((("department", department), ("outcome", "stored")), 0)
        assert stored >= 2  # two cameras each, a first picture each (counters are per process)
        assert by_department(mine)[department] >= 4
    cameras_gauge = samples(text, "camgrid_cameras")
    assert cameras_gauge[(("department", "water"), ("status", "online"))] == 2
    assert samples(text, "camgrid_api_request_duration_seconds_count") is not None
    assert farm.base_url not in text


async def test_an_api_process_leaves_its_startup_objects_out_of_full_collections(
    tmp_path: Path,
) -> None:
    """A full collection walks every object the collector tracks (about 190,000 in an API
    process that has served a while, 77 ms on 2 cores); those alive once the API listens
    are frozen (`gc.freeze`) and never walked again, until it stops."""
    farm = CameraFarm([FarmCamera.make(0, "changing")], change_every=60.0, width=320, height=180)
    await farm.start()
    assert gc.get_freeze_count() == 0
    try:
        loaded = _serve_config(tmp_path, farm, interval="60s")
        async with opened_catalog(loaded, tmp_path) as catalog:
            await sync_catalog(catalog, loaded)
            async with running_api(loaded, tmp_path, "127.0.0.1", 0) as url:
                frozen = gc.get_freeze_count()
                assert frozen > 10_000
                assert frozen > 10 * len(gc.get_objects())
                async with aiohttp.ClientSession() as http, http.get(f"{url}api/v1/health") as got:
                    assert got.status == 200
            assert gc.get_freeze_count() == 0  # thawed when the API stops
    finally:
        await farm.stop()
