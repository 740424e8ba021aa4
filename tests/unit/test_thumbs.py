"""Unit tests of catalog.store.thumbs: a rebuilt thumbnail has the bytes ingest made."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from catalog.store.thumbs import (
    THUMB_WIDTH,
    ThumbnailError,
    looks_whole,
    rebuild_thumbnail,
)
from ingest.farm.frames import encode_jpeg, render_scene
from ingest.image import inspect_jpeg


@pytest.mark.parametrize(
    ("width", "height"),
    [(1920, 1080), (640, 360), (704, 576), (2560, 1440), (333, 250), (200, 120)],
)
def test_a_rebuilt_thumbnail_is_the_one_ingest_made(width: int, height: int) -> None:
    data = encode_jpeg(render_scene(3, 1, width=width, height=height))
    check = inspect_jpeg(data)
    rebuilt = rebuild_thumbnail(data, width, height)
    assert rebuilt == check.thumb
    decoded = cv2.imdecode(np.frombuffer(rebuilt, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (check.thumb_height, check.thumb_width, 3)
    assert check.thumb_width == min(width, THUMB_WIDTH)


def test_a_progressive_image_rebuilds_too() -> None:
    data = encode_jpeg(render_scene(5, width=1280, height=720), progressive=True)
    assert rebuild_thumbnail(data, 1280, 720) == inspect_jpeg(data).thumb


@pytest.mark.parametrize(
    ("data", "width", "height"),
    [
        (b"not a jpeg at all", 640, 360),
        (b"", 640, 360),
        (b"\xff\xd8\xff\xe0fake\xff\xd9", 640, 360),
    ],
)
def test_an_undecodable_image_raises(data: bytes, width: int, height: int) -> None:
    with pytest.raises(ThumbnailError, match=r"^the image does not decode to its recorded size$"):
        rebuild_thumbnail(data, width, height)


def test_an_image_of_another_size_than_its_row_raises() -> None:
    data = encode_jpeg(render_scene(1, width=640, height=360))
    with pytest.raises(ThumbnailError, match=r"^the image does not decode to its recorded size$"):
        rebuild_thumbnail(data, 1920, 1080)
    with pytest.raises(ThumbnailError, match=r"^the image has no size$"):
        rebuild_thumbnail(data, 0, 360)


def test_looks_whole_tells_a_stored_thumbnail_from_what_a_power_cut_leaves() -> None:
    thumb = inspect_jpeg(encode_jpeg(render_scene(2, width=1920, height=1080))).thumb
    assert thumb is not None
    assert looks_whole(thumb)
    assert not looks_whole(b"")
    assert not looks_whole(thumb[: len(thumb) // 2])  # cut short
    assert not looks_whole(thumb[:-4096] + bytes(4096))  # the last block never written
    assert not looks_whole(bytes(len(thumb)))  # allocated, never written
