"""Snapshots from the filesystem, for tests and demos: a JPEG, a folder of them, or a video.

A folder is served in rotation: its ``.jpg``/``.jpeg`` files sorted by name, the next
one on each call for the same camera uid. The folder is listed on every call, so files
may be added while camgrid runs.

A video file (``.mp4``, ``.avi``, ``.mkv``) is read through OpenCV's FFmpeg backend: each
call for the same camera uid seeks one second of video further (``fps`` frames) and
returns that frame as a JPEG, wrapping around at the end, so that every call gives
another picture (frames next to each other look alike, and the pipeline would store
none of them as new). A video shorter than two seconds advances one frame per call.
A file whose container does not say how many frames it has is counted by reading it.

Files are read, and frames decoded and encoded, in the context's executor.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2

from ingest.connectors.base import (
    BodyTooLarge,
    CameraTarget,
    CameraUnreachable,
    ConnectorContext,
    SnapshotError,
)

JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv"})
VIDEO_JPEG_QUALITY = 90


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
    if path.suffix.lower() not in JPEG_SUFFIXES | VIDEO_SUFFIXES:
        raise SnapshotError("unsupported file")
    return path


def _frame_count(capture: cv2.VideoCapture) -> int:
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if count > 0:
        return count
    count = 0  # no index in the container: count the frames by reading them
    while capture.grab():
        count += 1
    return count


def frame_index(turn: int, count: int, fps: float) -> int:
    """The frame shown at ``turn``: one second of video further each turn, wrapping."""
    step = max(1, round(fps)) if fps > 0 else 1
    if count <= step:
        step = 1
    return (turn * step) % count


def read_video_frame(path: Path, turn: int, max_bytes: int) -> bytes:
    """Blocking: the frame :func:`frame_index` picks from the video at ``path``, as a JPEG."""
    try:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    except cv2.error:
        raise SnapshotError("unreadable video") from None
    try:
        if not capture.isOpened():
            raise SnapshotError("unreadable video")
        count = _frame_count(capture)
        if count < 1:
            raise SnapshotError("no frame")
        capture.set(
            cv2.CAP_PROP_POS_FRAMES, frame_index(turn, count, capture.get(cv2.CAP_PROP_FPS))
        )
        ok, frame = capture.read()
        if not ok or frame is None:  # a frame count that was only an estimate: start over
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = capture.read()
        if not ok or frame is None:
            raise SnapshotError("no frame")
    finally:
        capture.release()
    encoded, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, VIDEO_JPEG_QUALITY])
    if not encoded:  # pragma: no cover - encoding a decoded frame does not fail
        raise SnapshotError("no frame")
    data: bytes = buffer.tobytes()
    if len(data) > max_bytes:
        raise BodyTooLarge()
    return data


def read_snapshot_file(path: Path, turn: int, max_bytes: int) -> bytes:
    """Blocking: the bytes of the picture :func:`_pick` chooses, at most ``max_bytes``."""
    chosen = _pick(path, turn)
    if chosen.suffix.lower() in VIDEO_SUFFIXES:
        return read_video_frame(chosen, turn, max_bytes)
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
    """Takes snapshots of ``file`` cameras: a JPEG, a folder of them in rotation, or a video."""

    def __init__(self, ctx: ConnectorContext) -> None:
        self._executor = ctx.executor
        self._turns: dict[str, int] = {}

    async def fetch(self, target: CameraTarget) -> bytes:
        """The next picture (or video frame) for ``target.uid``."""
        if target.path is None:
            raise SnapshotError("no path")
        # the turn is taken on the loop, so concurrent polls of one uid get different files
        turn = self._turns.get(target.uid, 0)
        self._turns[target.uid] = turn + 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, read_snapshot_file, target.path, turn, target.max_bytes
        )
