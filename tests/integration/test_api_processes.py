"""`camgrid serve --api-processes N`, run as a user runs it: N processes listening on one port."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

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
async def serving(workdir: Path) -> AsyncIterator[Served]:
    """`camgrid serve --no-ingest --api-processes 2 --port 0` in `workdir`, until the body ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "camgrid.cli", "serve", "--no-ingest", "--config", str(EXAMPLES),
        "--port", "0", "--api-processes", "2",
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
        if process.returncode is None:
            process.kill()
            await process.wait()
        if child is not None and parent_of(child) is not None:
            os.kill(child, signal.SIGKILL)


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
