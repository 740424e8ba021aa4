"""`camgrid serve --api-processes N`, run as a user runs it: N processes listening on one port."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import SERVICE_PID_FILE
from bench.api import listening_sockets
from tests.integration.test_cli import EXAMPLES, REPO, camgrid

READY_TIMEOUT_S = 60.0
LISTENING = re.compile(rb"API listening on http://127\.0\.0\.1:(\d+)/")
STARTED = re.compile(rb"started 1 more API processes: \[(\d+)\]")


@dataclass
class Served:
    """A running `camgrid serve --api-processes 2`: the first process, its port and child."""

    process: asyncio.subprocess.Process
    port: int
    child: int
    stderr: bytearray = field(default_factory=bytearray)


def parent_of(pid: int) -> int | None:
    """The parent pid of a running process; None once it is gone (or a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if fields[0] == "Z" else int(fields[1])


async def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def serving(workdir: Path, *, ingest: bool = False) -> AsyncIterator[Served]:
    """`camgrid serve [--no-ingest] --api-processes 2 --port 0` in `workdir`, until the body ends.

    Ingest runs only with `ingest`.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camgrid.cli", "serve", *([] if ingest else ["--no-ingest"]),
        "--config", str(EXAMPLES), "--port", "0", "--api-processes", "2",
        cwd=workdir, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    stderr = bytearray()
    port = child = None
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            while port is None or child is None:
                line = await process.stderr.readline()
                assert line, f"camgrid serve exited: {stderr.decode()}"
                stderr += line
                if (found := LISTENING.search(line)) and port is None:
                    port = int(found.group(1))
                if found := STARTED.search(line):
                    child = int(found.group(1))
        served = Served(process, port, child, stderr)
        reader = asyncio.create_task(_collect(process.stderr, stderr))
        try:
            yield served
        finally:
            reader.cancel()
            with suppress(asyncio.CancelledError):
                await reader
    finally:
        # the child first: it holds the stderr pipe, which process.wait() waits to see closed
        if child is not None and parent_of(child) in (process.pid, 1):
            os.kill(child, signal.SIGKILL)
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _collect(stream: asyncio.StreamReader, into: bytearray) -> None:
    while line := await stream.readline():
        into += line


async def test_api_processes_share_one_port_and_stop_together(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        assert parent_of(served.child) == served.process.pid
        await wait_for(lambda: listening_sockets(served.port) == 2, "two sockets on the port")
        url = f"http://127.0.0.1:{served.port}/api/v1/health"
        for _ in range(10):  # a new connection each time, whichever process takes it
            async with aiohttp.ClientSession() as http, http.get(url) as answer:
                assert answer.status == 200
        served.process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(served.process.wait(), 30) == 0
        assert parent_of(served.child) is None
        assert listening_sockets(served.port) == 0


async def test_a_dead_api_process_stops_the_service_with_an_error(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        await wait_for(lambda: listening_sockets(served.port) == 2, "two sockets on the port")
        os.kill(served.child, signal.SIGKILL)
        assert await asyncio.wait_for(served.process.wait(), 30) == 1
        await asyncio.sleep(0.2)  # the last lines of stderr
        log = served.stderr.decode()
        assert f"API process {served.child} exited with code -9; stopping the service" in log
        assert listening_sockets(served.port) == 0


def shared_metrics_folder(pid: int) -> Path:
    """The metrics folder an extra API process was started with (the first sets it later)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [v for v in environ if v.startswith(b"PROMETHEUS_MULTIPROC_DIR=")]
    assert found, f"process {pid} has no shared metrics folder"
    return Path(found[0].split(b"=", 1)[1].decode())


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def requests_counted(folder: Path, pid: int, route: str) -> float:
    """The requests to `route` that process `pid` counted in its own file."""
    files = [str(folder / f"histogram_{pid}.db")]
    merged: list[Metric] = MultiProcessCollector.merge(files)  # type: ignore[no-untyped-call]
    return sum(
        float(sample.value)
        for family in merged
        for sample in family.samples
        if sample.name.endswith("_count") and sample.labels.get("route") == route
    )


async def test_every_api_process_answers_with_the_metrics_of_all(tmp_path: Path) -> None:
    health_requests = 20
    async with serving(tmp_path, ingest=True) as served:
        await wait_for(lambda: listening_sockets(served.port) == 2, "two sockets on the port")
        folder = shared_metrics_folder(served.child)
        base = f"http://127.0.0.1:{served.port}/api/v1"
        for _ in range(health_requests):  # a new connection each time: both processes answer
            async with aiohttp.ClientSession() as http, http.get(f"{base}/health") as answer:
                assert answer.status == 200
        health = (
            "camgrid_api_request_duration_seconds_count",
            frozenset({("route", "/api/v1/health"), ("method", "GET"), ("status", "200")}),
        )
        pids = (served.process.pid, served.child)
        scrapes = 0
        # scrape until each process has answered one (the kernel picks which)
        while scrapes < 60 and not all(
            requests_counted(folder, pid, "/api/v1/metrics") for pid in pids
        ):
            async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as answer:
                assert answer.status == 200
                shown = samples(await answer.text())
            scrapes += 1
            # whichever process answered: every health request, the ingest worker's
            # figures (it runs in the first process) and the catalog's counts
            assert shown[health] == health_requests
            assert ("camgrid_ingest_spool_files", frozenset()) in shown
            assert shown["camgrid_ingest_leases_total", frozenset()] >= 1
            assert shown["camgrid_cameras_leased", frozenset()] >= 0
            assert any(name == "camgrid_cameras" for name, _ in shown)
        assert [requests_counted(folder, pid, "/api/v1/health") > 0 for pid in pids] == [
            True,
            True,
        ]
        assert all(requests_counted(folder, pid, "/api/v1/metrics") for pid in pids)
        served.process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(served.process.wait(), 30) == 0
        assert not folder.exists()


async def test_api_processes_stop_when_the_first_is_killed(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        await wait_for(lambda: listening_sockets(served.port) == 2, "two sockets on the port")
        folder = shared_metrics_folder(served.child)
        served.process.kill()  # no chance to stop its children
        await wait_for(lambda: parent_of(served.child) is None, "the child to stop", 15.0)
        await asyncio.sleep(0.2)  # the last lines of stderr (the child shares it)
        assert f"API process {served.process.pid} is gone; stopping" in served.stderr.decode()
        assert listening_sockets(served.port) == 0
        # left for the next service to remove (api.metrics.remove_abandoned_metrics)
        assert (folder / SERVICE_PID_FILE).read_text() == f"{served.process.pid}\n"
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-processes", "0"], "camgrid: --api-processes must be at least 1, not 0\n"),
        (
            ["--no-api", "--api-processes", "2"],
            "camgrid: --api-processes is for the API, which --no-api turns off\n",
        ),
        (
            ["--no-api", "--reuse-port"],
            "camgrid: --reuse-port is for the API, which --no-api turns off\n",
        ),
    ],
)
def test_api_process_options_that_cannot_work_are_refused(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = camgrid("serve", "--config", str(EXAMPLES), *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == message
    assert not (tmp_path / "var").exists()  # refused before anything was opened
