"""Scale-out: three ingest workers and an API process over one PostgreSQL and one S3 bucket.

`camgrid serve --no-api` three times and `camgrid serve --no-ingest` once, as
subprocesses sharing a fresh PostgreSQL database and a bucket on the moto S3
server, over 300 farm cameras in this process (three departments, a 5 s
interval). The farm notes when each camera is asked for a picture, so the test
sees every poll whichever worker made it: no camera is polled twice for one due
time, every camera is polled, the workers share the work, and a SIGKILLed
worker's leased cameras are polled again by the others once their lease lapses
(a 3 s lease here, through `CAMGRID_LEASE_SECONDS`) and not before. Each worker
serves its metrics on `--metrics-port`; the API serves pictures and captures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import re
import signal
import socket
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import select

from catalog.db import Catalog, migrate, open_catalog
from catalog.models import Camera, Snapshot
from catalog.principals import create_principal
from ingest.farm import CameraFarm, FarmCamera
from tests.fixtures.databases import PG_ADMIN_DSN
from tests.fixtures.s3server import S3Server
from tests.integration.workers_rig import (
    DEPARTMENTS,
    READY_TIMEOUT_S,
    REPO,
    by_department,
    samples,
    uid_of,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.postgres

CAMERAS: Final = 300
SLOW: Final = 15  # cameras that answer after SLOW_DELAY_S, so a worker is caught holding leases
SLOW_DELAY_S: Final = 1.5
INTERVAL_S: Final = 5.0
LEASE_S: Final = 8
WORKERS: Final = 3
#: The farm is one host standing in for 300 devices: lift the per-host cap, or polls queue
#: behind it holding their leases (see the per-host note in docs/scaling.md).
ONE_HOST: Final = ("--concurrency", "64", "--per-host", "64")
#: a poll starts within this long after its camera's lease lapses (idle wait, lease, connect)
TAKEOVER_SLACK_S: Final = 1.5
#: Consecutive polls of one camera are never closer than this. Due times stay on the
#: camera's slots (`ingest.pipeline.poll_slot`) but a poll may start a second or two late
#: on a loaded machine and the next one on time; two leases of one due time would come
#: moments apart.
#: (A lease that lapses is checked apart: its camera is polled again only after it lapses.)
MIN_GAP_S: Final = 0.4 * INTERVAL_S
#: a poll this long after the one before it is late (or the first, which waits for its slot)
LATE_GAP_S: Final = 1.1 * INTERVAL_S


class RecordingFarm(CameraFarm):
    """The farm, also noting the wall-clock time of every request per camera."""

    def __init__(self, cameras: list[FarmCamera], **kwargs: Any) -> None:
        super().__init__(cameras, **kwargs)
        self.times: list[list[float]] = [[] for _ in cameras]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with contextlib.suppress(ValueError, IndexError):
            self.times[int(request.match_info["index"])].append(time.time())
        return await super()._handle(request)

    def polled_after(self, index: int, at: float) -> list[float]:
        return [t for t in self.times[index] if t > at]


def _farm_cameras() -> list[FarmCamera]:
    cameras = [FarmCamera.make(i, "changing") for i in range(CAMERAS)]
    for i in range(0, CAMERAS, CAMERAS // SLOW):
        cameras[i] = dataclasses.replace(
            FarmCamera.make(i, "slow"), delay_s=SLOW_DELAY_S, name=f"slow-{i}"
        )
    return cameras


@pytest.fixture
async def fresh_pg() -> AsyncIterator[str]:
    """A PostgreSQL database of its own for this test, dropped after; yields its URL."""
    name = f"camgrid_workers_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    rest = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    yield f"postgresql+asyncpg://{rest}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@dataclass
class Process:
    """One `camgrid serve` subprocess, its stderr, and the URL it said it listens on."""

    name: str
    process: asyncio.subprocess.Process
    url: asyncio.Future[str]
    stderr: bytearray = field(default_factory=bytearray)
    reader: asyncio.Task[None] | None = None

    @property
    def owner(self) -> str:
        """Its name in the leases (`ingest.worker.worker_name`)."""
        return f"{socket.gethostname()}:{self.process.pid}"


async def _collect(
    process: Process, stream: asyncio.StreamReader, pattern: re.Pattern[bytes]
) -> None:
    while line := await stream.readline():
        process.stderr += line
        match = pattern.search(line)
        if match and not process.url.done():
            process.url.set_result(match.group(1).decode())
    if not process.url.done():
        process.url.set_exception(RuntimeError(f"{process.name} exited before it listened"))


async def start(
    name: str, args: Iterable[str], cwd: Path, env: dict[str, str], pattern: bytes
) -> Process:
    await asyncio.to_thread(cwd.mkdir, parents=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camgrid.cli", "serve", *args,
        cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    process = Process(name, proc, asyncio.get_running_loop().create_future())
    process.reader = asyncio.create_task(_collect(process, proc.stderr, re.compile(pattern)))
    return process


async def stop(process: Process) -> None:
    if process.process.returncode is None:
        process.process.terminate()
        try:
            await asyncio.wait_for(process.process.wait(), 20)
        except TimeoutError:
            process.process.kill()
            await process.process.wait()
    if process.reader is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.reader, 5)
    if not process.url.done():
        process.url.cancel()
    elif not process.url.cancelled():
        process.url.exception()  # retrieved, so asyncio does not warn about it


async def leases_of(catalog: Catalog, owner: str) -> dict[str, datetime]:
    """The cameras `owner` holds a live lease on, with when each lease lapses."""
    async with catalog.sessions() as session:
        rows = await session.execute(
            select(Camera.uid, Camera.lease_until).where(
                Camera.lease_owner == owner, Camera.lease_until > datetime.now().astimezone()
            )
        )
        return {uid: until for uid, until in rows.all() if until is not None}


async def caught_holding(catalog: Catalog, farm: RecordingFarm, owner: str) -> dict[str, datetime]:
    """Wait for `owner` to be polling slow cameras: their uids and when their leases lapse.

    Only slow cameras leased 0.3 to 1 s ago count: their request has reached the farm
    (and the farm, whose loop may lag, has seen it), and their answer is still half a
    second away.
    """
    slow = {uid_of(c.index) for c in farm.cameras if c.behaviour == "slow"}
    deadline = time.monotonic() + 3 * INTERVAL_S
    while time.monotonic() < deadline:
        now = time.time()
        held = {
            uid: until
            for uid, until in (await leases_of(catalog, owner)).items()
            if uid in slow
            and 0.3 <= now - (until.timestamp() - LEASE_S) <= 1.0
            and farm.polled_after(index_of(uid), until.timestamp() - LEASE_S - 0.1)
        }
        if held:
            return held
        await asyncio.sleep(0.02)
    raise AssertionError(f"{owner} never held a lease long enough to be caught with it")


def index_of(uid: str) -> int:
    return int(uid.rsplit("-", 1)[1])


def assert_one_poll_per_due_time(farm: RecordingFarm, killed_at: float, capture: int) -> None:
    """Polls of one camera are never closer than `MIN_GAP_S`.

    Except right after a late poll: the first one, when every camera's first picture
    is stored at once, or one taken over from the dead worker. A poll that ends behind
    schedule takes the camera's next slot at least half an interval away
    (`ingest.pipeline.next_due`); and the camera asked for an on-demand capture.
    """
    for i, times in enumerate(farm.times):
        if i == capture:
            continue
        late = {times[0]} | {b for a, b in itertools.pairwise(times) if b - a > LATE_GAP_S}
        short = [
            round(b - a, 2)
            for a, b in itertools.pairwise(times)
            if b - a < MIN_GAP_S and a not in late
        ]
        assert not short, (
            f"camera {uid_of(i)} polled again after {short} s",
            [round(t - killed_at, 2) for t in times],
        )


async def assert_stored_once_per_due_time(catalog: Catalog, skip: set[str]) -> None:
    """Every camera has pictures, and no two of one camera's are closer than `MIN_GAP_S`."""
    async with catalog.sessions() as session:
        rows = (
            await session.execute(
                select(Snapshot.camera_uid, Snapshot.captured_at).order_by(
                    Snapshot.camera_uid, Snapshot.captured_at
                )
            )
        ).all()
    stored: defaultdict[str, list[datetime]] = defaultdict(list)
    for uid, at in rows:
        stored[uid].append(at)
    assert len(stored) == CAMERAS  # every camera's first picture is stored
    for uid, ats in stored.items():
        if uid not in skip:
            gaps_s = [(b - a).total_seconds() for a, b in itertools.pairwise(ats[1:])]
            assert min(gaps_s, default=INTERVAL_S) >= MIN_GAP_S, (uid, gaps_s)


async def scrape_workers(http: aiohttp.ClientSession, urls: list[str], farm: CameraFarm) -> None:
    """Each worker's `--metrics-port` shows its polls, by department, and no camera URL."""
    texts = []
    for url in urls:
        async with http.get(url) as answer:
            assert answer.status == 200
            texts.append(await answer.text())
    per_worker = [by_department(samples(t, "camgrid_ingest_snapshots_total")) for t in texts]
    assert all(sum(polls.values()) > 0 for polls in per_worker), per_worker
    assert {d for polls in per_worker for d in polls} == set(DEPARTMENTS)
    for text in texts:
        assert farm.base_url not in text
        assert samples(text, "camgrid_ingest_fetch_seconds_count")


async def check_api(http: aiohttp.ClientSession, api_url: str, token: str) -> None:
    """The API process serves what the workers stored, and counts cameras by department."""
    auth = {"Authorization": f"Bearer {token}"}
    async with http.get(f"{api_url}/api/v1/cameras/{uid_of(2)}/snapshots", headers=auth) as got:
        assert got.status == 200
        assert (await got.json())["items"]
    async with http.get(f"{api_url}/api/v1/metrics") as got:
        cameras = samples(await got.text(), "camgrid_cameras")
    assert sum(cameras.values()) == CAMERAS
    assert set(by_department(cameras)) == set(DEPARTMENTS)


async def start_all(
    config: Path, workdir: Path, env: dict[str, str]
) -> tuple[Process, list[Process]]:
    """`serve --no-ingest` and `WORKERS` times `serve --no-api --metrics-port 0`."""
    common = ("--config", str(config))
    api = await start(
        "api", (*common, "--no-ingest", "--port", "0"), workdir / "api", env,
        rb"API listening on (http://[0-9.]+:\d+)/",
    )  # fmt: skip
    workers = []
    for n in range(WORKERS):
        workers.append(
            await start(
                f"worker{n}",
                (*common, "--no-api", "--metrics-port", "0", *ONE_HOST),
                workdir / f"w{n}",
                env,
                rb"metrics listening on (http://[0-9.]+:\d+/metrics)",
            )
        )
    return api, workers


@pytest.mark.timeout(90)
async def test_three_workers_share_cameras_and_take_over_a_dead_ones_leases(
    tmp_path: Path, fresh_pg: str, s3_server: S3Server, s3_bucket: str
) -> None:
    farm = RecordingFarm(_farm_cameras(), change_every=20.0, width=320, height=180)
    await farm.start()
    config = tmp_path / "config"
    write_config(config, farm, interval="5s", timeout="3s")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "CAMGRID_DATABASE_URL": fresh_pg,
        "CAMGRID_STORE_URL": s3_server.url(s3_bucket),
        "CAMGRID_LEASE_SECONDS": str(LEASE_S),
    }
    catalog = open_catalog(fresh_pg)
    processes: list[Process] = []
    try:
        await migrate(catalog)  # before the processes, so the token can be made here
        async with catalog.sessions() as session, session.begin():
            token = await create_principal(session, name="workers-test", role="operator")
        api, workers = await start_all(config, tmp_path, env)
        processes = [api, *workers]
        api_url = await asyncio.wait_for(api.url, READY_TIMEOUT_S)
        metrics_urls = [await asyncio.wait_for(w.url, READY_TIMEOUT_S) for w in workers]
        started = time.time()

        # Every camera is polled; an on-demand capture through the API reaches a worker.
        await wait_until(lambda: all(farm.times), READY_TIMEOUT_S, "a first poll of every camera")
        first_round = time.time() - started
        capture_uid = uid_of(1)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{api_url}/api/v1/cameras/{capture_uid}/capture?wait=10",
                headers={"Authorization": f"Bearer {token}"},
            ) as answer:
                assert answer.status == 201, await answer.text()
                assert (await answer.json())["camera_uid"] == capture_uid
            await asyncio.sleep(max(0.0, started + first_round + 1.5 * INTERVAL_S - time.time()))
            # All three workers poll; the API shows their pictures.
            await scrape_workers(http, metrics_urls, farm)
            await check_api(http, api_url, token)

        # SIGKILL a worker while it holds leases on cameras it is still polling: they are
        # polled again once those leases lapse, and not before.
        held = await caught_holding(catalog, farm, workers[0].owner)
        workers[0].process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        await workers[0].process.wait()
        await wait_until(
            lambda: all(farm.polled_after(index_of(u), killed_at) for u in held),
            LEASE_S + TAKEOVER_SLACK_S + 1.0,
            "the dead worker's cameras to be polled by the others",
        )
        for uid, until in held.items():
            again = farm.polled_after(index_of(uid), killed_at)[0]
            assert until.timestamp() - 0.05 <= again <= until.timestamp() + TAKEOVER_SLACK_S, (
                uid,
                [round(t - killed_at, 2) for t in farm.times[index_of(uid)]],
                until.timestamp() - killed_at,
            )
        # The other two carry on with every camera, within an interval and a lease.
        await wait_until(
            lambda: all(farm.polled_after(i, killed_at) for i in range(CAMERAS)),
            INTERVAL_S * 1.05 + LEASE_S + TAKEOVER_SLACK_S,
            "every camera to be polled after the kill",
        )
        for worker in workers[1:]:
            assert worker.process.returncode is None, worker.stderr.decode()[-2000:]

        assert_one_poll_per_due_time(farm, killed_at, index_of(capture_uid))
        await assert_stored_once_per_due_time(catalog, {capture_uid, *held})
    finally:
        for process in processes:
            await stop(process)
        await catalog.close()
        await farm.stop()
