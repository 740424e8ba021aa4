"""Ingest throughput, latency and memory of camgrid beside a minimal pipeline, in one run.

    .venv/bin/python -m bench.ingest [--cameras 2000] [--window 20] ...

A farm of simulated 1920x1080 cameras (300-500 KB JPEGs, every one 'changing': by
default each answer shows the next picture, so camgrid never skips storing an
unchanged one) runs on loopback in a process of its own.
Demand is above capacity: every camera is always due. Against it, one after the
other, each in a fresh process and with the same concurrency:

* the **reference**: aiohttp GET, one reduced decode (``IMREAD_REDUCED_COLOR_4``) in a
  thread pool, one new file per snapshot (unsynced) -- the least any snapshot
  pipeline must do;
* **camgrid**: a fresh SQLite catalog and LocalStore in a temp folder, a generated
  config loaded and synced, and ``ingest.worker.open_scheduler(...)`` running
  ``scheduler.run(stop)``: leases, the http connector, checks, pHash, thumbnail,
  dedupe, two object writes (the image synced, the thumbnail not: it is rebuilt from
  the image if a power cut loses it), batched rows.

Each runs ``--warmup`` seconds, then is measured: the warm-up covers one round of every
camera, so what is measured is the steady state of a deployment, where a camera's
first poll of the day (its new folders, its first status event) is long past. The
``--window`` is split over
``--rounds`` alternating runs of each (reference, camgrid, reference, ...), so that
load from outside the benchmark weighs on both alike. Besides the rates, each
reports its process CPU time per snapshot (all threads), which load from outside
disturbs much less than it does the rates. The runs' files are removed after
the last run, not as each run ends (``ingest_runs.run_folder`` says why). Then the
RTSP part: the time to a first frame with the rtsp connector's settings beside a
default ``ffmpeg -frames:v 1`` on the same streams of GStreamer's RTSP server
(:mod:`tests.fixtures.rtsp_server`), alternating. It prints one JSON line, with each
figure beside its target, and the ratio of each round (``ratio_per_round``), whose
spread shows how much load from outside moved the combined one.

Latency (GET start to objects stored, per snapshot) is reported twice, labelled:
``saturated_*`` from the runs above, where every camera is always due, so a poll
waits its turn for the image threads and p50 measures that queue; and ``paced_*``
from one more run of each where every camera is due every ``interval_s``, chosen so
that demand is ``--paced-load`` (default 0.5) of the rate camgrid reached saturated,
with the cameras' phases spread over the interval. The p50 target is judged on the
paced run: it is a per-snapshot figure, not a queue length.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bench.ingest_runs import (
    RunPlan,
    camgrid_process,
    combine,
    farm_process,
    reference_process,
)

TARGET_RATIO = 0.7
TARGET_PEAK_RSS_MB = 400.0
TARGET_P50_MS = 50.0
FARM_READY_S = 300.0
RUN_SLACK_S = 120.0


def _run_child(ctx: Any, target: Any, plan: RunPlan) -> dict[str, Any]:
    """Run ``target(plan, pipe)`` in a fresh process and return what it sent.

    The disk is synced first, so that no run pays for the one before it: the
    reference's files are not synced, and the kernel writes them back up to 30 s
    later (``vm.dirty_expire_centisecs``), or as soon as they pass a tenth of the
    memory (``vm.dirty_background_ratio``), about 3 GB on this machine, which one
    run of the reference writes. Without it, that write-back ran during the next
    camgrid run: its flusher's CPU and a disk queue a few GB deep, in front of each
    of camgrid's synced puts.
    """
    os.sync()
    receive, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=target, args=(plan, send))
    process.start()
    send.close()
    try:
        if not receive.poll(plan.warmup_s + plan.window_s + RUN_SLACK_S):
            raise RuntimeError(f"{target.__name__} sent no result")
        result: dict[str, Any] = receive.recv()
    finally:
        process.join(30)
        if process.is_alive():
            process.kill()
    return result


def round_ratios(reference: list[dict[str, Any]], camgrid: list[dict[str, Any]]) -> list[float]:
    """camgrid's rate over the reference's in each round (a run of each, one after the other)."""
    return [
        round(
            (c["seen"] / c["window_s"]) / max(r["seen"] / r["window_s"], 1e-9),
            3,
        )
        for r, c in zip(reference, camgrid, strict=True)
    ]


def measure_pipelines(args: argparse.Namespace) -> dict[str, Any]:
    """Start the farm, run the reference, then camgrid; stop the farm."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    farm = ctx.Process(
        target=farm_process,
        args=(args.cameras, args.width, args.height, args.change_every, send, stop),
        daemon=True,
    )
    farm.start()
    send.close()
    scratch = tempfile.mkdtemp(prefix="camgrid-bench-runs-")
    try:
        if not receive.poll(FARM_READY_S):
            raise RuntimeError("the farm did not start")
        ready = receive.recv()
        plan = RunPlan(
            urls=tuple(ready["urls"]),
            concurrency=args.concurrency,
            image_threads=args.image_threads,
            warmup_s=args.warmup,
            window_s=args.window / args.rounds,
            scratch=scratch,  # removed after the last run (see ingest_runs.run_folder)
        )
        # alternate short runs, so that load from outside hits both pipelines alike
        reference, camgrid = [], []
        for _ in range(args.rounds):
            reference.append(_run_child(ctx, reference_process, plan))
            camgrid.append(_run_child(ctx, camgrid_process, plan))
        paced: dict[str, Any] = {}
        if args.paced_load > 0:
            # demand below capacity: each camera due every interval_s, which asks for
            # paced_load times the snapshots per second camgrid managed when saturated
            capacity = combine(camgrid)["snapshots_per_s"]
            interval = max(1.0, round(args.cameras / max(args.paced_load * capacity, 1e-9)))
            paced_warmup = interval + 5.0 if args.paced_warmup is None else args.paced_warmup
            paced_plan = replace(
                plan, interval_s=interval, warmup_s=paced_warmup, window_s=args.paced_window
            )
            paced = {
                "interval_s": interval,
                "demand_per_s": round(args.cameras / interval, 1),
                "reference": _run_child(ctx, reference_process, paced_plan),
                "camgrid": _run_child(ctx, camgrid_process, paced_plan),
            }
    finally:
        stop.set()
        farm.join(30)
        if farm.is_alive():
            farm.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    frame_kb = [b / 1024 for b in ready["frame_bytes"]]
    return {
        "frame_kb_min": round(min(frame_kb)),
        "frame_kb_max": round(max(frame_kb)),
        "ratio_per_round": round_ratios(reference, camgrid),
        "reference": combine(reference),
        "camgrid": combine(camgrid),
        "paced": {k: combine([v]) if isinstance(v, dict) else v for k, v in paced.items()},
    }


async def _camgrid_grabs(url: str, grabs: int) -> list[float]:
    from ingest.connectors import CameraTarget, ConnectorContext
    from ingest.connectors.rtsp import RtspSnapshotConnector

    times: list[float] = []
    async with aiohttp.ClientSession() as session:
        connector = RtspSnapshotConnector(ConnectorContext(session=session))
        try:
            target = CameraTarget(uid="bench:rtsp", kind="rtsp", url=url, timeout_s=10.0)
            for _ in range(grabs):
                started = time.monotonic()
                await connector.fetch(target)
                times.append(time.monotonic() - started)
        finally:
            connector.close()
    return times


def _ffmpeg_grab(url: str, out: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", url, "-frames:v", "1", "-y", str(out)],
        check=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError("ffmpeg wrote no frame")
    return elapsed


def measure_rtsp(args: argparse.Namespace) -> dict[str, Any]:
    """Median time to a first frame: the rtsp connector, and a default ffmpeg, alternating."""
    from tests.fixtures.rtsp import start_rtsp_server

    server = start_rtsp_server(width=args.width, height=args.height)
    camgrid: list[float] = []
    ffmpeg: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="camgrid-bench-rtsp-") as tmp:
            for i in range(args.rtsp_grabs):
                camgrid += asyncio.run(_camgrid_grabs(server.public_url, 1))
                ffmpeg.append(_ffmpeg_grab(server.public_url, Path(tmp) / f"{i}.jpg"))
    finally:
        server.stop()
    ours, theirs = statistics.median(camgrid), statistics.median(ffmpeg)
    return {
        "rtsp_first_frame_ms": round(ours * 1000, 1),
        "rtsp_first_frame_max_ms": round(max(camgrid) * 1000, 1),
        "ffmpeg_first_frame_ms": round(theirs * 1000, 1),
        "rtsp_speedup": round(theirs / ours, 2),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument(
        "--change-every",
        type=float,
        default=0.0,
        help="seconds between the farm's pictures (0: every answer shows the next one, so no"
        " poll finds an unchanged picture that camgrid would not store)",
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--image-threads", type=int, default=2)
    parser.add_argument(
        "--warmup",
        type=float,
        default=25.0,
        help="seconds before each saturated run is measured: one round of every camera, so"
        " that first polls (new folders, first status events) are behind it",
    )
    parser.add_argument("--window", type=float, default=20.0, help="measured seconds, in all")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each")
    parser.add_argument(
        "--paced-load",
        type=float,
        default=0.5,
        help="latency phase: demand as a share of camgrid's saturated rate (0: skip it)",
    )
    parser.add_argument(
        "--paced-warmup",
        type=float,
        default=None,
        help="seconds before the paced runs are measured (default: one interval and 5 s)",
    )
    parser.add_argument("--paced-window", type=float, default=20.0)
    parser.add_argument("--rtsp-grabs", type=int, default=5)
    parser.add_argument("--no-rtsp", action="store_true", help="skip the RTSP part")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    measured = measure_pipelines(args)
    reference, camgrid = measured.pop("reference"), measured.pop("camgrid")
    paced = measured.pop("paced")
    ratio = camgrid["snapshots_per_s"] / max(reference["snapshots_per_s"], 1e-9)
    result: dict[str, Any] = {
        "bench": "ingest",
        "cameras": args.cameras,
        "width": args.width,
        "height": args.height,
        "concurrency": args.concurrency,
        "window_s": args.window,
        **measured,
        "reference_snapshots_per_s": reference["snapshots_per_s"],
        "camgrid_snapshots_per_s": camgrid["snapshots_per_s"],
        "ratio": round(ratio, 3),
        "peak_rss_mb": camgrid["peak_rss_mb"],
        "saturated_p50_latency_ms": camgrid["p50_latency_ms"],
        "saturated_p99_latency_ms": camgrid["p99_latency_ms"],
        "camgrid_stored_per_s": camgrid["stored_per_s"],
        "camgrid_unchanged_per_s": camgrid["unchanged_per_s"],
        "camgrid_recorded_per_s": camgrid["recorded_per_s"],
        "camgrid_failed": camgrid["failed"],
        "saturated_reference_p50_latency_ms": reference["p50_latency_ms"],
        "saturated_reference_p99_latency_ms": reference["p99_latency_ms"],
        "reference_peak_rss_mb": reference["peak_rss_mb"],
        "camgrid_cpu_ms_per_snapshot": camgrid["cpu_ms_per_snapshot"],
        "reference_cpu_ms_per_snapshot": reference["cpu_ms_per_snapshot"],
        "reference_failed": reference["failed"],
    }
    if paced:
        result.update(
            {
                "paced_load": args.paced_load,
                "paced_interval_s": paced["interval_s"],
                "paced_demand_per_s": paced["demand_per_s"],
                "paced_camgrid_snapshots_per_s": paced["camgrid"]["snapshots_per_s"],
                "paced_p50_latency_ms": paced["camgrid"]["p50_latency_ms"],
                "paced_p99_latency_ms": paced["camgrid"]["p99_latency_ms"],
                "paced_camgrid_cpu_ms_per_snapshot": paced["camgrid"]["cpu_ms_per_snapshot"],
                "paced_camgrid_failed": paced["camgrid"]["failed"],
                "paced_reference_snapshots_per_s": paced["reference"]["snapshots_per_s"],
                "paced_reference_p50_latency_ms": paced["reference"]["p50_latency_ms"],
                "paced_reference_p99_latency_ms": paced["reference"]["p99_latency_ms"],
            }
        )
    if not args.no_rtsp:
        result.update(measure_rtsp(args))
    # The latency target is per snapshot on loopback: it is judged where demand is
    # below capacity. Saturated, a poll waits its turn for the image threads, and
    # p50 is the queue's length in time, whatever each snapshot costs.
    p50 = paced["camgrid"]["p50_latency_ms"] if paced else None
    result["targets"] = {
        "ratio": TARGET_RATIO,
        "peak_rss_mb": TARGET_PEAK_RSS_MB,
        "paced_p50_latency_ms": TARGET_P50_MS,
    }
    result["met"] = {
        "ratio": ratio >= TARGET_RATIO,
        "peak_rss_mb": camgrid["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
        "paced_p50_latency_ms": p50 is not None and p50 <= TARGET_P50_MS,
    }
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
