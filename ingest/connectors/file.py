"""Snapshots from the filesystem, for tests and demos: one JPEG, or a folder of them.

A folder is served in rotation: its ``.jpg``/``.jpeg`` files sorted by name, the next
one on each call for the same camera uid. The folder is listed on every call, so files
may be added while camgrid runs. Files are read in the context's executor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ingest.connectors.base import (
    BodyTooLarge,
    CameraTarget,
    CameraUnreachable,
    ConnectorContext,
    SnapshotError,
)

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})


def _pick(path: Path, turn: int) -> Path:
    """The file to read: ``path`` itself, or the ``turn``-th JPEG of the folder."""
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix.lower() in JPEG_SUFFIXES and p.is_file()
        )
        if not files:
            raise SnapshotError("no images")
        return files[turn % len(files)]
    if not path.exists():
        raise CameraUnreachable("file not found")
    if path.suffix.lower() not in JPEG_SUFFIXES:
        raise SnapshotError("unsupported file")
    return path


def read_snapshot_file(path: Path, turn: int, max_bytes: int) -> bytes:
    """Blocking: the bytes of the picture :func:`_pick` chooses, at most ``max_bytes``."""
    chosen = _pick(path, turn)
    try:
        with chosen.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:  # removed between listing and reading
        raise CameraUnreachable("file not found") from None
    except OSError:
        raise CameraUnreachable("unreadable file") from None
    if len(data) > max_bytes:
        raise BodyTooLarge()
    return data


class FileSnapshotConnector:
    """Takes snapshots of ``file`` cameras: a JPEG file or a folder of them in rotation."""

    def __init__(self, ctx: ConnectorContext) -> None:
        self._executor = ctx.executor
        self._turns: dict[str, int] = {}

    async def fetch(self, target: CameraTarget) -> bytes:
        """The next picture for ``target.uid``."""
        if target.path is None:
            raise SnapshotError("no path")
        # the turn is taken on the loop, so concurrent polls of one uid get different files
        turn = self._turns.get(target.uid, 0)
        self._turns[target.uid] = turn + 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, read_snapshot_file, target.path, turn, target.max_bytes
        )
