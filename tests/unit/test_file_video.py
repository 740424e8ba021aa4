"""The file connector's video files: a frame further on each call, wrapping around."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import cv2
import numpy as np
import pytest

from ingest.connectors import (
    BodyTooLarge,
    CameraTarget,
    ConnectorContext,
    FileSnapshotConnector,
    SnapshotError,
)
from ingest.connectors.file import frame_index
from ingest.image import inspect_jpeg

WIDTH, HEIGHT = 320, 180
FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def write_video(path: Path, frames: int, fps: float = 10.0) -> None:
    """Frame ``i`` is flat gray at level ``8 * i``, so a frame's mean tells its index."""
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*FOURCC[path.suffix]), fps, (WIDTH, HEIGHT)
    )
    assert writer.isOpened()
    try:
        for i in range(frames):
            writer.write(np.full((HEIGHT, WIDTH, 3), 8 * i, np.uint8))
    finally:
        writer.release()


def shown_index(jpeg: bytes) -> int:
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture is not None
    return round(float(picture.mean()) / 8)


@pytest.fixture
async def connector() -> AsyncIterator[FileSnapshotConnector]:
    async with aiohttp.ClientSession() as session:
        yield FileSnapshotConnector(ConnectorContext(session=session))


def target(path: Path, uid: str = "demo:video-1", max_bytes: int = 1 << 20) -> CameraTarget:
    return CameraTarget(uid=uid, kind="file", path=path, max_bytes=max_bytes)


@pytest.mark.parametrize("suffix", sorted(FOURCC))
async def test_each_call_one_second_further_wrapping(
    connector: FileSnapshotConnector, tmp_path: Path, suffix: str
) -> None:
    video = tmp_path / f"clip{suffix}"
    write_video(video, frames=25, fps=10.0)
    shots = [await connector.fetch(target(video)) for _ in range(4)]
    assert [shown_index(s) for s in shots] == [0, 10, 20, 5]  # 30 wraps to 5
    check = inspect_jpeg(shots[1])
    assert (check.width, check.height) == (WIDTH, HEIGHT)
    assert len(set(shots)) == 4


async def test_each_uid_has_its_own_place(connector: FileSnapshotConnector, tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    write_video(video, frames=25)
    await connector.fetch(target(video, uid="a"))
    assert shown_index(await connector.fetch(target(video, uid="b"))) == 0
    assert shown_index(await connector.fetch(target(video, uid="a"))) == 10


async def test_short_video_advances_a_frame_at_a_time(
    connector: FileSnapshotConnector, tmp_path: Path
) -> None:
    video = tmp_path / "short.mp4"
    write_video(video, frames=4, fps=10.0)
    shots = [shown_index(await connector.fetch(target(video))) for _ in range(5)]
    assert shots == [0, 1, 2, 3, 0]


async def test_a_file_that_is_no_video(connector: FileSnapshotConnector, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(SnapshotError) as caught:
        await connector.fetch(target(video))
    assert caught.value.reason == "unreadable video"


async def test_frame_over_the_cap(connector: FileSnapshotConnector, tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    write_video(video, frames=3)
    with pytest.raises(BodyTooLarge):
        await connector.fetch(target(video, max_bytes=100))


@pytest.mark.parametrize(
    ("turn", "count", "fps", "index"),
    [(0, 100, 25.0, 0), (1, 100, 25.0, 25), (4, 100, 25.0, 0), (3, 60, 25.0, 15), (3, 20, 25.0, 3)],
)
def test_frame_index(turn: int, count: int, fps: float, index: int) -> None:
    assert frame_index(turn, count, fps) == index


def test_frame_index_without_a_frame_rate() -> None:
    assert [frame_index(t, 3, 0.0) for t in range(4)] == [0, 1, 2, 0]
