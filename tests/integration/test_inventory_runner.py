"""Who runs inventory syncs, on SQLite and PostgreSQL: leases keep an inventory to one
worker, the runner's loop syncs what is due until stopped, and an ingest worker runs
the inventories beside its polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from catalog.db import Catalog
from catalog.inventories import lease_due_inventories
from catalog.models import utcnow
from catalog.store import LocalStore
from ingest.inventory.sync import sync_inventory
from ingest.worker import WorkerSettings, run_worker
from tests.integration.inventory_rig import Rig, build_sync_rig, write_csv


@pytest.fixture
async def rig(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in build_sync_rig(catalog, tmp_path):
        yield made


async def test_leases_keep_an_inventory_to_one_worker(rig: Rig) -> None:
    now = utcnow()
    async with rig.catalog.sessions() as session, session.begin():
        first = await lease_due_inventories(
            session, owner="a", now=now, limit=10, lease_s=15, kinds=["csv", "http_json"]
        )
    async with rig.catalog.sessions() as session, session.begin():
        second = await lease_due_inventories(
            session, owner="b", now=now, limit=10, lease_s=15, kinds=["csv", "http_json"]
        )
    assert (len(first), second) == (2, [])
    later = now + timedelta(seconds=16)
    async with rig.catalog.sessions() as session, session.begin():
        taken = await lease_due_inventories(
            session, owner="b", now=later, limit=10, lease_s=15, kinds=["csv"]
        )
    assert [t.kind for t in taken] == ["csv"]
    outcome = await sync_inventory(
        rig.catalog, rig.department("residential"), 0, rig.fetchers["csv"], rig.grid, owner="a"
    )
    assert (outcome.error, outcome.report) == ("lease lost", None)
    assert (await rig.inventory("residential")).last_sync_at is None
    assert await rig.cameras() == {}


async def test_the_runner_loop_syncs_due_inventories_until_stopped(rig: Rig) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(rig.runner.run(stop))
    for _ in range(200):
        if len(await rig.cameras()) == 6:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert len(await rig.cameras()) == 6
    for department_id in ("residential", "chengguan"):
        inventory = await rig.inventory(department_id)
        assert (inventory.last_count, inventory.lease_owner) == (3, None)


async def test_an_ingest_worker_runs_the_inventories_beside_the_polls(
    rig: Rig, tmp_path: Path
) -> None:
    write_csv(rig.root, ["yf-1,远大小区南门,113.12,27.80,,", "yf-2,太子花园西门,113.13,27.80,,"])
    stop = asyncio.Event()
    store = LocalStore(tmp_path / "objects")
    worker = asyncio.create_task(
        run_worker(rig.loaded, rig.catalog, store, stop, WorkerSettings(concurrency=4))
    )
    for _ in range(200):
        if len(await rig.cameras()) == 5:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(worker, 20)
    cams = await rig.cameras()
    assert sorted(cams) == [
        "chengguan:cg-1",
        "chengguan:cg-2",
        "chengguan:cg-3",
        "residential:yf-1",
        "residential:yf-2",
    ]
    assert (await rig.inventory("residential")).last_count == 2
