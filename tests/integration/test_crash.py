"""Crashes and shutdowns of a real `camgrid serve --no-api` worker process.

The worker polls cameras of the fixture farm (in this process) into a fresh
working folder (SQLite catalog, local store, spool). It is killed with SIGKILL
mid-ingest three times, restarted each time, and finally stopped with SIGTERM:
it must exit cleanly within its grace period, every camera must end with
a snapshot and no picture recorded twice (consecutive rows of a camera differ), no
lease may be left behind and `camgrid fsck` must find the catalog clean.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from pathlib import Path

import yaml
from sqlalchemy import func, select

from catalog.db import Catalog, open_catalog
from catalog.models import Camera, Snapshot
from ingest.farm import CameraFarm
from ingest.image import PHASH_SAME_DISTANCE as PHASH_SAME
from ingest.image import hamming
from tests.fixtures.cameras import FARM_PASSWORD, FARM_USERNAME

CAMERAS = 120
PASSWORD_ENV = "TEST_CRASH_FARM_PASSWORD"


def write_config(root: Path, farm: CameraFarm) -> None:
    """CAMERAS cameras over the farm's healthy changing cameras, every second."""
    changing = [c for c in farm.cameras if c.behaviour == "changing"]
    cameras = []
    for n in range(CAMERAS):
        cam = changing[n % len(changing)]
        entry: dict[str, object] = {
            "id": f"cam-{n:03d}",
            "name": f"camera {n}",
            "snapshot": {"kind": "http", "url": farm.url(cam.index)},
        }
        if cam.auth != "none":
            entry["auth"] = {
                "scheme": cam.auth,
                "username": FARM_USERNAME,
                "password": f"${{{PASSWORD_ENV}}}",
            }
        cameras.append(entry)
    (root / "departments").mkdir(parents=True)
    (root / "grids").mkdir()
    document = {
        "department": {"id": "crash", "name": "crash test"},
        "defaults": {"interval": "1s", "timeout": "2s"},
        "cameras": cameras,
    }
    (root / "departments" / "crash.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    (root / "camgrid.toml").write_text("lease_seconds = 2\n", encoding="utf-8")


def child_env() -> dict[str, str]:
    env = {**os.environ, PASSWORD_ENV: FARM_PASSWORD}
    env.pop("CAMGRID_DATABASE_URL", None)
    env.pop("CAMGRID_STORE_URL", None)
    return env


async def start_worker(workdir: Path, config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "camgrid.cli",
        "serve",
        "--no-api",
        "--config",
        str(config),
        cwd=workdir,
        env=child_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def snapshot_count(catalog: Catalog) -> int:
    try:
        async with catalog.sessions() as session:
            return int(await session.scalar(select(func.count(Snapshot.id))) or 0)
    except Exception:  # not migrated yet
        return 0


async def wait_for(catalog: Catalog, at_least: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = await snapshot_count(catalog)
        if count >= at_least:
            return count
        await asyncio.sleep(0.1)
    return count


async def settled(catalog: Catalog, owner_pid: int, timeout_s: float) -> tuple[int, list[str]]:
    """Wait until every camera has a snapshot and none is leased by a dead worker.

    Returns the cameras with a snapshot and the uids still leased by another
    worker than `owner_pid` when `timeout_s` ran out (or none, once settled).
    A dead worker's lease lapses after `lease_seconds` and stays written until
    a live worker leases the camera again and records its poll.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with catalog.sessions() as session:
                pictured = int(
                    await session.scalar(select(func.count(func.distinct(Snapshot.camera_uid))))
                    or 0
                )
                owners = (
                    await session.execute(
                        select(Camera.uid, Camera.lease_owner).where(
                            Camera.lease_owner.is_not(None)
                        )
                    )
                ).all()
        except Exception:  # not migrated yet
            pictured, owners = 0, []
        dead = [uid for uid, owner in owners if not str(owner).endswith(f":{owner_pid}")]
        if (pictured >= CAMERAS and not dead) or time.monotonic() > deadline:
            return pictured, dead
        await asyncio.sleep(0.1)


async def run_cli(workdir: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "camgrid.cli",
        *args,
        cwd=workdir,
        env=child_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_kill_9_three_times_then_sigterm_loses_and_duplicates_nothing(
    camera_farm: CameraFarm, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    write_config(config, camera_farm)
    workdir = tmp_path / "work"
    workdir.mkdir()
    catalog = open_catalog(f"sqlite+aiosqlite:///{workdir / 'var' / 'catalog.db'}")
    try:
        seen = 0
        for _ in range(3):
            worker = await start_worker(workdir, config)
            # Kill mid-ingest: some new pictures recorded, the rest in flight.
            seen = await wait_for(catalog, min(CAMERAS, seen + 10), 30.0)
            worker.kill()
            assert await worker.wait() == -signal.SIGKILL
        worker = await start_worker(workdir, config)
        # The dead workers' leases lapse (2 s) and every camera gets its picture.
        assert await settled(catalog, worker.pid, 30.0) == (CAMERAS, [])
        await asyncio.sleep(1.5)  # a few more rounds: unchanged pictures add no rows
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 15.0) == 0
        assert time.monotonic() - started < 12.0
        async with catalog.sessions() as session:
            rows = await session.execute(
                select(Snapshot.camera_uid, Snapshot.phash).order_by(
                    Snapshot.camera_uid, Snapshot.captured_at
                )
            )
            phashes: dict[str, list[int]] = {}
            for uid, phash in rows.all():
                phashes.setdefault(uid, []).append(phash)
            leased = (
                await session.scalars(select(Camera.uid).where(Camera.lease_owner.is_not(None)))
            ).all()
        assert len(phashes) == CAMERAS
        for history in phashes.values():  # a picture is recorded again only when it changed
            assert all(hamming(a, b) > PHASH_SAME for a, b in itertools.pairwise(history))
        assert list(leased) == []  # SIGTERM drained and recorded every poll
    finally:
        await catalog.close()
    code, out = await run_cli(workdir, "fsck", "--config", str(config))
    assert code == 0, out
