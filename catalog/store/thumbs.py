"""Thumbnails: derived objects, made at ingest and rebuilt from their image when lost.

A snapshot's thumbnail is a pure function of its image: the image decoded at the
smallest libjpeg DCT scale (1/2, 1/4, 1/8) that leaves it at least ``THUMB_WIDTH``
wide, resized to ``THUMB_WIDTH`` (never upscaled; the height keeps the aspect of
the full picture), encoded at ``THUMB_QUALITY``. Ingest makes it from the one
reduced decode it checks the picture with (``ingest.image``, through the
functions here); :func:`rebuild_thumbnail` makes it again from the stored image
with the same calls, so a rebuilt thumbnail has the bytes ingest stored (on the
same OpenCV build) and its ETag stays true.

That is why ingest stores a thumbnail without syncing it (``put(...,
durable=False)``): after a power cut it may be missing, empty or cut short,
while its image, synced, is whole. The API rebuilds a thumbnail that is missing
or fails :func:`looks_whole` when it is asked for, and stores it again;
``camgrid fsck --repair`` rebuilds the missing ones.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "THUMB_QUALITY",
    "THUMB_WIDTH",
    "ThumbnailError",
    "decode_reduced",
    "decode_scale_for",
    "encode_thumbnail",
    "looks_whole",
    "rebuild_thumbnail",
    "resize_to_width",
]

#: the width of every thumbnail (narrower pictures keep their own width)
THUMB_WIDTH: Final = 320
THUMB_QUALITY: Final = 75

_REDUCED_FLAGS: Final = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
_ENCODE_PARAMS: Final = [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY]


class ThumbnailError(ValueError):
    """An image that no thumbnail can be made of (not decodable, or not its row's size)."""


def decode_scale_for(width: int, thumb_width: int) -> int:
    """The largest libjpeg scale (8, 4, 2, 1) that keeps the picture >= ``thumb_width`` wide."""
    for scale in (8, 4, 2):
        if -(-width // scale) >= thumb_width:  # libjpeg rounds the scaled size up
            return scale
    return 1


def decode_reduced(data: bytes, scale: int) -> NDArray[np.uint8] | None:
    """``data`` decoded to 3-channel BGR at 1/``scale`` of its size; None if undecodable."""
    if not data:
        return None  # imdecode raises on an empty buffer rather than answer None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_FLAGS[scale])
    if decoded is None or decoded.ndim != 3 or decoded.shape[2] != 3:
        return None
    return np.asarray(decoded, dtype=np.uint8)


def resize_to_width(
    image: NDArray[np.uint8], target: int, full_width: int, full_height: int
) -> NDArray[np.uint8]:
    """Resize to ``target`` wide; the height keeps the aspect of the full-size picture.

    A reduction by less than 2x (all that the DCT-scaled decode leaves, up to 5K
    wide pictures) is bilinear: every source pixel still weighs in, and it costs
    0.1 ms where an area average costs 0.55 ms (480 to 320 px, the 1080p case).
    The blur verdicts are the same either way (the sharpness curve of a blurred
    scene is within 2 points of the area-averaged one around the threshold).
    Larger reductions are area averages, which bilinear sampling would alias.
    """
    h = max(1, round(full_height * target / full_width))
    if image.shape[1] == target and image.shape[0] == h:
        return image
    interpolation = cv2.INTER_LINEAR if image.shape[1] < 2 * target else cv2.INTER_AREA
    return np.asarray(cv2.resize(image, (target, h), interpolation=interpolation), np.uint8)


def encode_thumbnail(image: NDArray[np.uint8]) -> bytes:
    """The JPEG bytes of a thumbnail-sized picture."""
    ok, encoded = cv2.imencode(".jpg", image, _ENCODE_PARAMS)
    if not ok:  # pragma: no cover - encoding a decoded picture does not fail
        raise ThumbnailError("the thumbnail could not be encoded")
    return encoded.tobytes()


def rebuild_thumbnail(data: bytes, width: int, height: int) -> bytes:
    """The thumbnail of the image ``data``, whose row says it is ``width`` x ``height``.

    Blocking (a reduced decode, a resize, an encode: a few ms for 1080p); call it
    from a worker thread. Raises :class:`ThumbnailError` if ``data`` does not
    decode to a picture of that size.
    """
    if width < 1 or height < 1:
        raise ThumbnailError("the image has no size")
    scale = decode_scale_for(width, THUMB_WIDTH)
    image = decode_reduced(data, scale)
    if image is None or image.shape[:2] != (-(-height // scale), -(-width // scale)):
        raise ThumbnailError("the image does not decode to its recorded size")
    return encode_thumbnail(resize_to_width(image, min(THUMB_WIDTH, width), width, height))


def looks_whole(data: bytes) -> bool:
    """Whether stored thumbnail bytes start and end like a JPEG (SOI, then EOI last).

    What an unsynced file can be after a power cut: missing, empty, cut short, or
    of the right length with blocks of zeros at the end; none of those pass. A
    cheap check for every thumbnail served, not a decode.
    """
    return data[:3] == b"\xff\xd8\xff" and data.endswith(b"\xff\xd9")
