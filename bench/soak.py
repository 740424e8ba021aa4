"""Soak: 2,000 cameras for some minutes with the object store cut for a while; nothing lost.

    .venv/bin/python -m bench.soak [--minutes 10] [--cameras 2000] [--interval 30]

A farm of simulated cameras (mostly healthy, some slow, offline or showing bad
pictures, and a few hostile ones: hanging, dripping, endless, huge, garbage,
redirect loops, server errors) runs in a process of its own, and so does an
S3 server (moto). This process runs one camgrid worker as `run_worker` wires
it (scheduler, spool, spool replayer) over a fresh PostgreSQL database, with
the S3 server behind a TCP proxy that is cut from 30% to 50% of the run.

At the end the worker is stopped (in-flight polls drained, results recorded),
the spool replayed to empty, and the catalog compared with the store. It
prints one JSON line: pictures captured (stored or spooled), rows, snapshots
lost (captured without a row: must be 0), still spooled (0), dangling rows
(0), peak RSS of this process, and the cadence of the healthy cameras (median
actual interval between polls of one camera over the configured one).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import multiprocessing
import os
import resource
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import yaml

SEED = 11
PASSWORD_ENV = "SOAK_FARM_PASSWORD"
HOSTILE = ("hang", "drip", "garbage", "endless", "huge", "redirect_loop", "server_error")
PG_ADMIN_DSN = os.environ.get("CAMGRID_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def soak_mix() -> dict[str, float]:
    from ingest.farm.cameras import DEFAULT_MIX

    return {**DEFAULT_MIX, **dict.fromkeys(HOSTILE, 0.004), "html": 0.004, "truncated": 0.004}


# -- the peers, each in a process of its own ------------------------------------------------


def farm_process(cameras: int, change_every: float, ready: Connection, stop: Event) -> None:
    """Serve the soak farm until `stop` is set."""
    asyncio.run(_serve_farm(cameras, change_every, ready, stop))


async def _serve_farm(cameras: int, change_every: float, ready: Connection, stop: Event) -> None:
    from ingest.farm import build_farm

    farm = build_farm(cameras, seed=SEED, mix=soak_mix(), change_every=change_every)
    await farm.start("127.0.0.1", 0)
    try:
        ready.send(
            {
                "cameras": [
                    (farm.url(c.index), c.behaviour, c.auth, c.username) for c in farm.cameras
                ],
                "password": farm.password,
            }
        )
        await asyncio.to_thread(stop.wait)
    finally:
        await farm.stop()


def s3_process(ready: Connection, stop: Event) -> None:
    """Serve moto's S3 server until `stop` is set."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    ready.send(f"{host}:{port}")
    stop.wait()
    server.stop()


# -- the worker under test ----------------------------------------------------------------


def write_config(root: Path, cameras: list[tuple[str, str, str, str]], interval_s: int) -> None:
    entries = []
    for n, (url, _, auth, username) in enumerate(cameras):
        entry: dict[str, Any] = {"id": f"cam-{n:04d}", "snapshot": {"kind": "http", "url": url}}
        entry["name"] = f"soak {n}"
        if auth != "none":
            entry["auth"] = {
                "scheme": auth,
                "username": username,
                "password": f"${{{PASSWORD_ENV}}}",
            }
        entries.append(entry)
    (root / "departments").mkdir(parents=True)
    (root / "grids").mkdir()
    document = {
        "department": {"id": "soak", "name": "soak"},
        "defaults": {"interval": f"{interval_s}s", "timeout": "5s"},
        "cameras": entries,
    }
    (root / "departments" / "soak.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


async def _pg_database() -> str:
    import asyncpg

    name = f"camgrid_soak_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _pg_url(database: str) -> str:
    rest = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{rest}/{database}"


async def soak(
    args: argparse.Namespace, farm: dict[str, Any], s3: str, tmp: Path
) -> dict[str, Any]:
    from sqlalchemy import func, select

    from catalog.db import migrate, open_catalog
    from catalog.fsck import find_inconsistencies
    from catalog.models import Camera, Snapshot, utcnow
    from catalog.store import open_store
    from catalog.sync import sync_config
    from config import load_config
    from ingest.spool import replay_once, replay_spool
    from ingest.worker import WorkerSettings, open_scheduler
    from tests.fixtures.proxy import running_proxy

    cameras: list[tuple[str, str, str, str]] = [tuple(c) for c in farm["cameras"]]
    write_config(tmp / "config", cameras, args.interval)
    loaded = load_config(tmp / "config", env={PASSWORD_ENV: farm["password"]})
    database = await _pg_database()
    catalog = open_catalog(_pg_url(database), pool_size=20)
    run_s = args.minutes * 60.0
    try:
        await migrate(catalog)
        async with catalog.sessions() as session, session.begin():
            await sync_config(session, loaded.departments, loaded.grid_cells, utcnow())
        async with running_proxy(s3) as proxy:
            store = open_store(f"s3://soak:soak@{proxy.endpoint}/soak?secure=false")
            await store.put("probe/ready", b"")
            settings = WorkerSettings(
                concurrency=args.concurrency,
                per_host=args.concurrency,  # the whole farm is one host
                spool_dir=tmp / "spool",
                spool_max_bytes=args.spool_mb << 20,
            )
            polled: defaultdict[str, list[float]] = defaultdict(list)
            peak_spool = 0
            async with open_scheduler(loaded, catalog, store, settings) as scheduler:
                pipeline = scheduler.pipeline
                spool = pipeline.spool
                assert spool is not None
                inner = pipeline.poll_outcome

                async def timed(camera: Any, **kw: Any) -> Any:
                    polled[camera.uid].append(time.monotonic())
                    return await inner(camera, **kw)

                setattr(pipeline, "poll_outcome", timed)  # noqa: B010 - a bench probe
                stop = asyncio.Event()
                started = t0 = time.monotonic()
                tasks = [
                    asyncio.create_task(scheduler.run(stop)),
                    asyncio.create_task(
                        replay_spool(spool, store, catalog, stop, pipeline.store_back)
                    ),
                ]
                cut = (run_s * args.cut_at, run_s * (args.cut_at + args.cut_for))
                while (elapsed := time.monotonic() - started) < run_s:
                    if cut[0] <= elapsed < cut[1] and proxy.up:
                        await proxy.cut()
                    elif elapsed >= cut[1] and not proxy.up:
                        await proxy.restore()
                    peak_spool = max(peak_spool, spool.bytes)
                    await asyncio.sleep(0.5)
                await proxy.restore()
                stop.set()
                await asyncio.gather(*tasks)
                while spool.paths():  # what the replayer had not reached yet
                    await replay_once(spool, store, catalog)
                counters = scheduler.counters
            async with catalog.sessions() as session:
                rows = int(await session.scalar(select(func.count(Snapshot.id))) or 0)
                reasons = (
                    await session.execute(
                        select(Camera.status_reason, func.count()).group_by(Camera.status_reason)
                    )
                ).all()
            report = await find_inconsistencies(catalog, store)
            await store.delete("probe/ready")
            await store.close()
    finally:
        await catalog.close()
        await _drop_database(database)
    captured = counters.stored + counters.spooled
    good = {f"soak:cam-{n:04d}" for n, c in enumerate(cameras) if c[1] == "changing"}
    gaps = [b - a for uid in good for a, b in itertools.pairwise(polled[uid])]
    # Steady state: gaps that begin after the first round (the spread-out first polls).
    steady = [
        b - a for uid in good for a, b in itertools.pairwise(polled[uid]) if a - t0 > args.interval
    ]
    cadence = statistics.median(steady) / args.interval if steady else None
    return {
        "cameras": len(cameras),
        "hostile": sum(1 for c in cameras if c[1] in HOSTILE),
        "minutes": args.minutes,
        "store_cut_s": round(cut[1] - cut[0], 1),
        "polls": counters.polls,
        "captured": captured,
        "spooled": counters.spooled,
        "peak_spool_mb": round(peak_spool / (1 << 20), 1),
        "rows": rows,
        "snapshots_lost": captured - rows,
        "still_spooled": len(spool.paths()),
        "dangling_rows": len(report.dangling_rows),
        "orphan_objects": len(report.orphan_objects),
        "lapsed_leases": counters.lapsed,
        "status_reasons": {reason or "ok": n for reason, n in reasons},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "good_cadence_ratio": round(cadence, 3) if cadence is not None else None,
        "good_cadence_ratio_all": round(statistics.median(gaps) / args.interval, 3)
        if gaps
        else None,
        "limits": {"snapshots_lost": 0, "dangling_rows": 0, "good_cadence_ratio": 1.1},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--cameras", type=int, default=2000)
    p.add_argument("--interval", type=int, default=30, help="seconds between polls of a camera")
    p.add_argument("--change-every", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, default=128)
    p.add_argument("--cut-at", type=float, default=0.3, help="store cut from this run fraction")
    p.add_argument("--cut-for", type=float, default=0.2, help="for this fraction of the run")
    p.add_argument("--spool-mb", type=int, default=1024)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # retries while the store is cut
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    farm_ready, farm_send = ctx.Pipe(duplex=False)
    s3_ready, s3_send = ctx.Pipe(duplex=False)
    peers = [
        ctx.Process(target=farm_process, args=(args.cameras, args.change_every, farm_send, stop)),
        ctx.Process(target=s3_process, args=(s3_send, stop)),
    ]
    for peer in peers:
        peer.start()
    try:
        farm, s3 = farm_ready.recv(), s3_ready.recv()
        with tempfile.TemporaryDirectory(prefix="camgrid-soak-") as tmp:
            figures = asyncio.run(soak(args, farm, s3, Path(tmp)))
    finally:
        stop.set()
        for peer in peers:
            peer.join(10)
    limits = figures["limits"]
    cadence = figures["good_cadence_ratio"]
    figures["ok"] = (
        figures["snapshots_lost"] == limits["snapshots_lost"]
        and figures["still_spooled"] == 0
        and figures["dangling_rows"] == limits["dangling_rows"]
        and cadence is not None
        and cadence <= limits["good_cadence_ratio"]
    )
    print(json.dumps(figures, ensure_ascii=False))
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
