"""HTTP throughput and p99 latency of the searches beside GET /health, on one server, in one run.

Run as::

    .venv/bin/python -m bench.api [--cameras 2000] [--duration 10] [--connections 32]
                                  [--mode both] [--api-processes 1]

It starts `camgrid demo` (a simulated camera farm, ingest running, the API)
in a temporary folder, waits `--warmup` seconds for pictures to arrive,
reads real parameters from the API (departments, cells, camera names and
places), then runs `wrk` with `--connections` connections against each
route in turn, every request drawing its query from a list of varied ones
(a Lua script): 64 a route, and 4,096 boxes and circles, which a map asks
for new at every move. GET /health is measured on the same server before the
first route and after each one: a route is compared with the mean of the
two health runs beside it (this machine's speed drifts by 10-20% within
minutes). Ingest keeps running throughout, as in production.

Two servers are measured (`--mode both`): the demo's own API, which shares
one process and event loop with the simulated farm and the ingest
scheduler, and an API process of its own (`camgrid serve --no-ingest` on
the demo's catalog), as DESIGN.md deploys API processes beside ingest
workers; `--api-processes N` has that one serve from N processes sharing
its port (`serve --api-processes N`), and its CPU time is theirs summed.

Progress goes to stderr; the last line on stdout is one JSON object: per
route the requests per second, p50 and p99 latency, non-2xx answers, the
server process's CPU time per request (`server_cpu_ms`, and
`cpu_ratio_to_health`: what the ratio would be if the server had a core to
itself), and the ratio to the health ceiling, beside the targets (ratio >= 0.3 and
p99 <= 50 ms for every search).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import quote, urlencode

import aiohttp

__all__ = ["listening_sockets", "main", "parse_wrk"]

RATIO_TARGET: Final = 0.3
P99_TARGET_MS: Final = 50.0
PATHS_PER_ROUTE: Final = 64
#: A map asks for a box or circle nobody asked for before at every move: these
#: routes draw from so many that most requests of a run are the first of theirs.
PATHS_PER_MAP_ROUTE: Final = 4096


def say(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def _ms(value: str, unit: str) -> float:
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
    return float(value) * scale[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests per second, p50/p99 latency (ms) and error counts from `wrk --latency` output."""
    figures: dict[str, float] = {}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    figures["rps"] = float(rps.group(1)) if rps else 0.0
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        figures[key] = _ms(*found.groups()) if found else float("nan")
    total = re.search(r"(\d+) requests in", output)
    figures["requests"] = float(total.group(1)) if total else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["non_2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    errors = re.search(r"Socket errors:(.*)", output)
    figures["socket_errors"] = (
        float(sum(int(n) for n in re.findall(r"\d+", errors.group(1)))) if errors else 0.0
    )
    return figures


def _lua(paths: Sequence[str]) -> str:
    quoted = ",\n".join(json.dumps(p) for p in paths)
    return (
        f"local paths = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )


def run_wrk(
    url: str, paths: Sequence[str], token: str | None, args: argparse.Namespace, folder: Path
) -> dict[str, float]:
    """One wrk run over `paths` (round robin); its figures."""
    script = folder / "paths.lua"
    script.write_text(_lua(paths), encoding="utf-8")
    command = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=args.duration + 60
    )
    return parse_wrk(done.stdout)


def stop_process(process: subprocess.Popen[Any], log: IO[str]) -> None:
    """SIGINT `process`, then wait (kill after 30 s); close its log."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


class Demo:
    """`camgrid demo` as a subprocess in a folder of its own; its URL and operator token."""

    def __init__(self, cameras: int, folder: Path) -> None:
        self.folder = folder
        self.log = (folder / "demo.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "camgrid.cli", "demo", "--cameras", str(cameras), "--port", "0"],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        )
        self.url = ""
        self.token = ""

    def wait_ready(self, timeout_s: float) -> None:
        """Read the `url:` and `token:` lines; raise if the demo dies or takes too long."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while not (self.url and self.token):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"camgrid demo did not start; see {self.folder / 'demo.log'}")
            line = self.process.stdout.readline()
            if line.startswith("url: "):
                self.url = line.split(" ", 1)[1].strip().rstrip("/")
            elif line.startswith("token: "):
                self.token = line.split(" ", 1)[1].strip()

    def stop(self) -> None:
        """SIGINT, then wait (kill after 30 s)."""
        stop_process(self.process, self.log)


class ApiProcess:
    """`camgrid serve --no-ingest` on the demo's folder: an API process of its own.

    DESIGN.md has API processes stateless beside any number of ingest
    workers; this one shares the demo's catalog while the demo keeps
    ingesting. The camera password is never read by an API process, but the
    config names it, so it gets a stand-in.
    """

    def __init__(self, folder: Path, processes: int = 1) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (folder / "api.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "camgrid.cli", "serve", "--no-ingest", "--config",
             "var/demo-config", "--port", str(self.port), "--api-processes", str(processes)],
            cwd=folder,
            stdout=self.log,
            stderr=self.log,
            env={**os.environ, "PYTHONPATH": str(Path.cwd()), "CAMGRID_DEMO_CAM_PASSWORD": "-"},
        )  # fmt: skip
        self.processes = processes

    def wait_ready(self, timeout_s: float) -> None:
        """Poll /api/v1/health until it answers and every process listens."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=2) as answer:
                    if answer.status == 200 and listening_sockets(self.port) >= self.processes:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError("camgrid serve --no-ingest did not start; see api.log")

    def stop(self) -> None:
        """SIGINT, then wait (kill after 30 s)."""
        stop_process(self.process, self.log)


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json(content_type=None)


async def discover(url: str, token: str) -> dict[str, Any]:
    """Real parameters to search with: departments, cells, and a page of cameras."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        departments = await _get(session, f"{url}/api/v1/departments")
        grids = await _get(session, f"{url}/api/v1/grids")
        cameras = await _get(session, f"{url}/api/v1/cameras?limit=1000")
        stats = await _get(session, f"{url}/api/v1/stats")
    return {
        "departments": [d["id"] for d in departments["items"]],
        "grids": [f["properties"]["grid_id"] for f in grids["features"]],
        "cameras": cameras["items"],
        "stats": stats,
    }


def _piece(rng: random.Random, names: Sequence[str], length: int) -> str:
    for _ in range(1000):
        name = rng.choice(names)
        runs = "".join(ch if ord(ch) > 0x2E80 else " " for ch in name).split()
        runs = [r for r in runs if len(r) >= length]
        if runs:
            run = rng.choice(runs)
            start = rng.randrange(len(run) - length + 1)
            return run[start : start + length]
    raise RuntimeError("no Chinese text of that length in the demo's names")


def routes(found: dict[str, Any], seed: int = 1) -> dict[str, list[str]]:
    """Each measured route and its varied request paths."""
    rng = random.Random(seed)
    cams = [c for c in found["cameras"] if c.get("location")]
    names = [c["name"] for c in found["cameras"]] + [c.get("address") or "" for c in cams]
    statuses = ["online", "online,degraded", "offline", "degraded"]

    def many(
        make: Callable[[], dict[str, str]],
        path: str = "/api/v1/cameras",
        count: int = PATHS_PER_ROUTE,
    ) -> list[str]:
        return [f"{path}?{urlencode(make(), quote_via=quote)}" for _ in range(count)]

    def box() -> dict[str, str]:
        c = rng.choice(cams)["location"]
        d = rng.choice([0.002, 0.005, 0.01])
        return {"bbox": f"{c['lon'] - d},{c['lat'] - d},{c['lon'] + d},{c['lat'] + d}"}

    def near() -> dict[str, str]:
        c = rng.choice(cams)["location"]
        return {"near": f"{c['lon']},{c['lat']}", "radius": str(rng.choice([200, 500, 1000]))}

    return {
        "department_status": many(
            lambda: {"department": rng.choice(found["departments"]), "status": rng.choice(statuses)}
        ),
        "bbox": many(box, count=PATHS_PER_MAP_ROUTE),
        "near": many(near, count=PATHS_PER_MAP_ROUTE),
        "grid": many(lambda: {"grid": rng.choice(found["grids"])}),
        "q_2_chinese": many(lambda: {"q": _piece(rng, names, 2)}),
        "q_3_plus": many(lambda: {"q": _piece(rng, names, rng.randint(3, 4))}),
        "wall": many(lambda: {"department": rng.choice(found["departments"])}, "/api/v1/wall"),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    parser.add_argument("--cameras", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds of ingest first")
    parser.add_argument(
        "--mode",
        choices=("demo", "api-process", "both"),
        default="both",
        help="measure the demo's own API, a `serve --no-ingest` process beside it, or both",
    )
    parser.add_argument(
        "--api-processes",
        type=int,
        default=1,
        metavar="N",
        help="the API process serves from N processes on its port (`serve --api-processes N`)",
    )
    return parser.parse_args(argv)


def listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (the kernel's table, /proc/net/tcp)."""
    count = 0
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        address, hex_port = fields[1].split(":")
        if int(hex_port, 16) == port and address == "0100007F" and fields[3] == "0A":
            count += 1
    return count


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) that process `pid` and its running
    children (the extra API processes of `--api-processes`) have used so far."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _measure(
    url: str,
    pid: int,
    token: str,
    paths: dict[str, list[str]],
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    """Health, then each route followed by health again, against the server at `url`
    (process `pid`); a route's ratio is to the mean of the two health runs beside it.

    Beside wrk's figures, each run reports the server process's own CPU time
    per request (`server_cpu_ms`), which load from outside the server (wrk,
    the farm, ingest) disturbs far less than rates and latencies.
    """

    def run(route_paths: list[str], auth: str | None) -> dict[str, float]:
        before = process_cpu_s(pid)
        figures = run_wrk(url, route_paths, auth, args, folder)
        spent = process_cpu_s(pid) - before
        figures["server_cpu_ms"] = round(1000 * spent / max(figures["requests"], 1.0), 3)
        return figures

    health = ["/api/v1/health"] * 4
    results: dict[str, dict[str, float]] = {}
    say(f"api: {url}: /health")
    # Health before and after every route: this machine's speed drifts by 10-20%
    # within minutes, so each route is compared with the health runs beside it.
    healths = [run(health, None)]
    for name, route_paths in paths.items():
        results[name] = run(route_paths, token)
        healths.append(run(health, None))
        r = results[name]
        beside = healths[-2:]
        r["health_rps"] = round(sum(h["rps"] for h in beside) / 2, 1)
        r["health_cpu_ms"] = round(sum(h["server_cpu_ms"] for h in beside) / 2, 3)
        say(f"api: {name:<18} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms"
            f"  p99 {r['p99_ms']:7.2f} ms  non-2xx {r['non_2xx']:.0f}"
            f"  server cpu {r['server_cpu_ms']:.2f} ms/req"
            f"  (health beside it {r['health_rps']:.0f} req/s)")  # fmt: skip
    ceiling = sum(h["rps"] for h in healths) / len(healths)
    health_cpu = sum(h["server_cpu_ms"] for h in healths) / len(healths)
    rates = [h["rps"] for h in healths]
    say(f"api: health {min(rates):.1f} to {max(rates):.1f} req/s,"
        f" server cpu {health_cpu:.2f} ms/req")  # fmt: skip
    misses = []
    for name, r in results.items():
        r["ratio_to_health"] = round(r["rps"] / r["health_rps"], 3) if r["health_rps"] else 0.0
        r["cpu_ratio_to_health"] = round(r["health_cpu_ms"] / r["server_cpu_ms"], 3)
        if r["ratio_to_health"] < RATIO_TARGET:
            misses.append(f"{name}: {r['ratio_to_health']} of health < {RATIO_TARGET}")
        if not r["p99_ms"] <= P99_TARGET_MS:
            misses.append(f"{name}: p99 {r['p99_ms']} ms > {P99_TARGET_MS}")
        if r["non_2xx"] or r["socket_errors"]:
            misses.append(f"{name}: {r['non_2xx']:.0f} non-2xx, {r['socket_errors']:.0f} errors")
    return {
        "health": {
            "runs": healths,
            "ceiling_rps": round(ceiling, 1),
            "server_cpu_ms": round(health_cpu, 3),
        },
        "routes": results,
        "misses": misses,
    }


def _run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    demo = Demo(args.cameras, folder)
    api: ApiProcess | None = None
    try:
        demo.wait_ready(180)
        say(f"api: demo at {demo.url}; {args.warmup:.0f} s of ingest first")
        time.sleep(args.warmup)
        found = asyncio.run(discover(demo.url, demo.token))
        paths = routes(found)
        servers: dict[str, dict[str, Any]] = {}
        if args.mode in ("demo", "both"):
            pid = demo.process.pid
            servers["demo"] = _measure(demo.url, pid, demo.token, paths, args, folder)
        if args.mode in ("api-process", "both"):
            api = ApiProcess(folder, args.api_processes)
            api.wait_ready(120)
            pid = api.process.pid
            servers["api_process"] = _measure(api.url, pid, demo.token, paths, args, folder)
    finally:
        if api is not None:
            api.stop()
        demo.stop()
    misses = [f"{where}/{miss}" for where, r in servers.items() for miss in r.pop("misses")]
    return {
        "bench": "api",
        "cameras": args.cameras,
        "connections": args.connections,
        "api_processes": args.api_processes,
        "duration_s": args.duration,
        "snapshots_at_start": found["stats"].get("snapshots", {}).get("total"),
        "servers": servers,
        "targets": {
            "ratio_to_health": RATIO_TARGET,
            "p99_ms": P99_TARGET_MS,
            "misses": misses,
            "met": not misses,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its one JSON line."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="camgrid-bench-api-"))
    try:
        result = _run(args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
