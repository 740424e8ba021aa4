"""The shared metrics folders of `serve --api-processes`: those of a killed service are removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from api.metrics import SERVICE_PID_FILE, remove_abandoned_metrics


def gone_pid() -> int:
    """The pid of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def folder(parent: Path, name: str, *, files: list[int], service: int | None, age_s: float) -> Path:
    """A metrics folder with one file of each pid in `files`, `age_s` old."""
    made = parent / f"camgrid-metrics-{name}"
    made.mkdir()
    for pid in files:
        (made / f"histogram_{pid}.db").write_bytes(bytes(8))
        (made / f"gauge_livesum_{pid}.db").write_bytes(bytes(8))
    if service is not None:
        (made / SERVICE_PID_FILE).write_text(f"{service}\n" if service else "", encoding="ascii")
    at = time.time() - age_s
    os.utime(made, (at, at))
    return made


def test_only_the_folders_of_services_that_are_gone_are_removed(tmp_path: Path) -> None:
    me, dead = os.getpid(), gone_pid()
    killed = folder(tmp_path, "killed", files=[dead, gone_pid()], service=dead, age_s=120)
    no_files = folder(tmp_path, "no-files", files=[], service=gone_pid(), age_s=120)
    running = folder(tmp_path, "running", files=[dead, me], service=dead, age_s=120)
    idle = folder(tmp_path, "idle", files=[], service=me, age_s=120)  # no request yet
    starting = folder(tmp_path, "starting", files=[], service=None, age_s=5)
    unwritten = folder(tmp_path, "unwritten", files=[], service=0, age_s=120)  # empty service.pid
    other = tmp_path / "camgrid-bench-x"
    other.mkdir()
    assert sorted(remove_abandoned_metrics(tmp_path)) == [killed, no_files, unwritten]
    assert [p.exists() for p in (killed, no_files, running, idle, starting, other)] == [
        False,
        False,
        True,
        True,
        True,
        True,
    ]
