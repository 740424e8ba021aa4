"""More API processes on one port: `camgrid serve --api-processes N`.

One Python process answers from one core at a time: its event loop holds
the interpreter lock while it parses, renders and writes, and its SQLite
threads wait for it. `--api-processes N` starts N - 1 more API processes
(`serve --no-ingest --reuse-port`) on the port the first one bound, and the
kernel spreads new connections over them (SO_REUSEPORT). In `bench.api` on
2 cores, while ingest ran beside them, two processes answered 1.8 to 3.0
times the searches of one at about a third less CPU per request, and the
p99 of GET /health fell from 75 to 23-33 ms.

The extra processes are children of the first: they stop with it, and when
one of them dies the whole service stops with an error (`ApiProcessExited`),
so that whatever supervises camgrid restarts it whole rather than running
with part of its capacity unnoticed. Each watches its parent (`PARENT_ENV`,
`watch_parent`) and stops once it is gone, killed or not: left running, it
would keep answering on the port, from an old config, beside the service
that replaced it. Their metrics are shared (`api.metrics.shared_between_processes`):
`/api/v1/metrics` answers for all of them, whichever took the connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Final

__all__ = [
    "PARENT_ENV",
    "REUSE_PORT",
    "ApiProcessExited",
    "api_processes",
    "sibling_command",
    "watch_parent",
]

log = logging.getLogger("camgrid")

#: Whether this platform lets several sockets listen on one port (Linux, the BSDs).
REUSE_PORT: Final = hasattr(socket, "SO_REUSEPORT")
#: How long a stopping API process gets before it is killed.
STOP_GRACE_S: Final = 10.0
#: Set in an extra API process's environment: the pid of the process that started it.
PARENT_ENV: Final = "CAMGRID_API_PARENT"
#: How often an extra API process looks whether its parent is still there.
PARENT_CHECK_S: Final = 1.0


class ApiProcessExited(RuntimeError):
    """An extra API process ended while the service was running."""


def sibling_command(config_dir: Path, host: str, port: int, *, verbose: bool = False) -> list[str]:
    """The command line of one extra API process on `host:port`."""
    return [
        sys.executable, "-m", "camgrid.cli", *(["-v"] if verbose else []),
        "serve", "--no-ingest", "--reuse-port",
        "--config", str(config_dir), "--host", host, "--port", str(port),
    ]  # fmt: skip


async def _stop(processes: Sequence[asyncio.subprocess.Process]) -> None:
    """SIGTERM every running one, then SIGKILL what is left after the grace period."""
    running = [p for p in processes if p.returncode is None]
    for process in running:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_GRACE_S):
            await asyncio.gather(*(p.wait() for p in running))
    except TimeoutError:
        for process in running:
            if process.returncode is None:
                log.warning("API process %d did not stop in time; killed", process.pid)
                with suppress(ProcessLookupError):
                    process.kill()
        await asyncio.gather(*(p.wait() for p in running))


@asynccontextmanager
async def api_processes(
    command: Sequence[str], count: int, cwd: Path, stop: asyncio.Event
) -> AsyncIterator[None]:
    """Run `count` processes of `command` for the body's lifetime; stop them after.

    When one exits before the body is done, `stop` is set (the body is meant
    to end on it) and `ApiProcessExited` is raised once the others are stopped.
    """
    processes: list[asyncio.subprocess.Process] = []
    exited: list[str] = []

    async def watch(process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if not stop.is_set():
            exited.append(f"API process {process.pid} exited with code {code}")
            log.error("API process %d exited with code %d; stopping the service", process.pid, code)
            stop.set()

    watchers: list[asyncio.Task[None]] = []
    try:
        for _ in range(count):
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, PARENT_ENV: str(os.getpid())},
            )
            processes.append(process)
            watchers.append(asyncio.create_task(watch(process)))
        if count:
            log.info("started %d more API processes: %s", count, [p.pid for p in processes])
        yield
    finally:
        # From here on a child that exits is stopping, not failing.
        stop.set()
        await _stop(processes)
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    if exited:
        raise ApiProcessExited("; ".join(exited))


async def watch_parent(stop: asyncio.Event, every_s: float = PARENT_CHECK_S) -> bool:
    """In an extra API process: set `stop` once the process that started it is gone.

    Returns whether it did. Does nothing in a process not started by
    `api_processes`. A parent that dies leaves its children to another process
    (init or a subreaper), which changes their parent pid: that is what is
    looked for, every `every_s`.
    """
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return False
    while not stop.is_set():
        if os.getppid() != int(parent):
            log.error("API process %s is gone; stopping", parent)
            stop.set()
            return True
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
    return False
