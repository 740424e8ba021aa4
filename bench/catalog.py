"""Catalog query latency at province scale, on SQLite and PostgreSQL, against its own limit.

Run as::

    .venv/bin/python -m bench.catalog [--sizes 2000,20000,200000]
        [--snapshots 10000000] [--engines sqlite,postgresql] [--runs 200]

For each engine and each size a catalog is generated (`bench.province`),
bulk-loaded into a freshly migrated database (`bench.loaders`), and every
query kind of `bench.workload` is run `--runs` times, each time with fresh
random parameters, one session per call as the API does. Each kind reports
p50 and p99 in milliseconds, the items it found on average, and its ratio
to the "limit" kind of its group: the cost of a primary-key range scan
that builds the same number of rows (`limit`) and nothing else.

Progress and tables go to stderr; the last line on stdout is one JSON
object with every figure and whether the targets hold at the largest size
(p99 <= 50 ms for every camera filter, <= 100 ms for the area+time
snapshot searches).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event

from bench.loaders import Loaded, load_postgresql, load_sqlite
from bench.province import make_province, snapshot_span
from bench.workload import LIMIT, Kind, camera_kinds, snapshot_kinds
from catalog.db import Catalog, open_catalog

__all__ = ["main", "percentile"]

CAMERA_TARGET_MS: Final = 50.0
AREA_TARGET_MS: Final = 100.0
WARMUP: Final = 3


def say(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-quantile (0..1) of `values`, by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


async def _measure(
    catalog: Catalog, kind: Kind, runs: int, rng: random.Random, budget_s: float
) -> dict[str, Any]:
    times: list[float] = []
    items: list[int] = []
    started = time.perf_counter()
    for i in range(WARMUP + runs):
        query = kind.draw(rng)
        if query.setup is not None:
            async with catalog.sessions() as session:
                await query.setup(session)
        t0 = time.perf_counter()
        async with catalog.sessions() as session:
            found = await query.run(session)
        elapsed = time.perf_counter() - t0
        if i >= WARMUP:
            times.append(elapsed * 1000)
            items.append(found)
        if i >= WARMUP + 10 and time.perf_counter() - started > budget_s:
            break
    return {
        "p50_ms": round(percentile(times, 0.5), 3),
        "p99_ms": round(percentile(times, 0.99), 3),
        "max_ms": round(max(times), 3),
        "runs": len(times),
        "items": round(statistics.fmean(items), 1),
    }


def _with_sqlite_memory(catalog: Catalog, megabytes: int) -> None:
    """Give each SQLite connection a memory map and a page cache (what `catalog.db` could set)."""

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA mmap_size={megabytes * 1024 * 1024}")
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    event.listen(catalog.engine.sync_engine, "connect", pragmas)


def _with_ratios(results: dict[str, dict[str, Any]], kinds: Sequence[Kind]) -> None:
    cam_ref = results.get("limit")
    snap_ref = results.get("snap_limit")
    for k in kinds:
        ref = snap_ref if k.name.startswith(("snap", "wall")) else cam_ref
        if ref is None or k.group == "reference":
            continue
        r = results[k.name]
        r["x_limit_p50"] = round(r["p50_ms"] / ref["p50_ms"], 2)
        r["x_limit_p99"] = round(r["p99_ms"] / ref["p99_ms"], 2)


async def _bench_one(
    engine: str, size: int, snapshots: int, args: argparse.Namespace
) -> dict[str, Any]:
    province = make_province(size)
    # The generated catalog is a large, long-lived heap: keep the collector off it,
    # so that its full passes do not land inside measured queries.
    gc.collect()
    gc.freeze()
    if engine == "sqlite":
        loaded: Loaded = await load_sqlite(province, snapshots, Path(args.workdir), say, args.reuse)
    else:
        loaded = await load_postgresql(province, snapshots, say, args.reuse)
    if args.load_only:
        return {"cameras": size, "snapshots": snapshots, "load_s": round(loaded.load_s, 1)}
    catalog = open_catalog(loaded.url)
    if engine == "sqlite" and args.sqlite_mmap_mb:
        _with_sqlite_memory(catalog, args.sqlite_mmap_mb)
    rng = random.Random(f"{engine}/{size}")
    kinds = camera_kinds(province) + snapshot_kinds(
        province, snapshot_span(size, snapshots), snapshots
    )
    if args.only:
        wanted = set(args.only.split(","))
        kinds = [k for k in kinds if k.name in wanted or k.group == "reference"]
    results: dict[str, dict[str, Any]] = {}
    try:
        for kind in kinds:
            results[kind.name] = await _measure(catalog, kind, args.runs, rng, args.budget)
            r = results[kind.name]
            say(
                f"{engine:>10} {size:>7} {kind.name:<22} p50 {r['p50_ms']:8.2f} ms"
                f"  p99 {r['p99_ms']:8.2f} ms  items {r['items']:7.1f}  runs {r['runs']}"
            )
    finally:
        await catalog.close()
    _with_ratios(results, kinds)
    return {
        "cameras": size,
        "snapshots": snapshots,
        "load_s": round(loaded.load_s, 1),
        "reused": loaded.reused,
        "queries": results,
        "groups": {k.name: k.group for k in kinds},
    }


def _misses(engines: dict[str, dict[str, Any]], size: int) -> list[str]:
    misses: list[str] = []
    for engine, by_size in engines.items():
        run = by_size.get(str(size))
        if run is None:
            continue
        for name, group in run["groups"].items():
            p99 = run["queries"][name]["p99_ms"]
            if group == "camera" and p99 > CAMERA_TARGET_MS:
                misses.append(f"{engine}/{size}/{name}: p99 {p99} ms > {CAMERA_TARGET_MS}")
            is_area = name.startswith("snap_") and name not in ("snap_limit", "snap_camera_day")
            if group == "snapshot" and is_area and p99 > AREA_TARGET_MS:
                misses.append(f"{engine}/{size}/{name}: p99 {p99} ms > {AREA_TARGET_MS}")
    return misses


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.catalog", description=__doc__)
    parser.add_argument("--sizes", default="2000,20000,200000")
    parser.add_argument("--snapshots", type=int, default=10_000_000)
    parser.add_argument(
        "--scale-snapshots",
        action="store_true",
        help="give each size snapshots in proportion to its cameras (the largest gets --snapshots)",
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per kind at most")
    parser.add_argument("--workdir", default="var/bench")
    parser.add_argument("--only", default="", help="comma list of kinds to run (and the limits)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a catalog loaded by an earlier run"
    )
    parser.add_argument("--load-only", action="store_true", help="load the catalogs and stop")
    parser.add_argument(
        "--sqlite-mmap-mb",
        type=int,
        default=0,
        help="measure SQLite with this memory map and a 32 MB page cache per connection"
        " (default: as catalog.db opens it)",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every engine at every size; the JSON object of the figures."""
    sizes = [int(s) for s in args.sizes.split(",")]
    engines: dict[str, dict[str, Any]] = {}
    for engine in args.engines.split(","):
        if engine not in ("sqlite", "postgresql"):
            raise SystemExit(f"unknown engine {engine!r}")
        engines[engine] = {}
        for size in sizes:
            snapshots = args.snapshots
            if args.scale_snapshots:
                snapshots = max(size, args.snapshots * size // max(sizes))
            engines[engine][str(size)] = await _bench_one(engine, size, snapshots, args)
    largest = max(sizes)
    misses = [] if args.load_only else _misses(engines, largest)
    return {
        "bench": "catalog",
        "limit": LIMIT,
        "sizes": sizes,
        "sqlite_mmap_mb": args.sqlite_mmap_mb,
        "engines": engines,
        "targets": {
            "at_cameras": largest,
            "camera_p99_ms": CAMERA_TARGET_MS,
            "area_time_p99_ms": AREA_TARGET_MS,
            "misses": misses,
            "met": not misses,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its one JSON line."""
    result = asyncio.run(run(parse_args(argv)))
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
