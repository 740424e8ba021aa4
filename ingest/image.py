"""Pure checks of one JPEG snapshot: structure, size, measurements, flags, pHash, thumbnail.

Everything here is CPU-bound and synchronous; the pipeline calls :func:`inspect_jpeg`
from a bounded thread pool (OpenCV releases the GIL while it decodes and resizes).

The picture is decoded once, at the smallest libjpeg DCT scale (1/2, 1/4, 1/8) that
still leaves it at least ``thumb_width`` wide; everything else is derived from that
one reduced decode. Before decoding, the marker segments are walked cheaply so that a
truncated download or an HTML error page never reaches the decoder.

Thresholds and why:

* ``black``: mean luma < 16 with a luma standard deviation < 12. A covered lens or a
  dead sensor gives a mean of 0–10 and a spread of a few levels; a dark night street
  with lamps has a similar mean but a much larger spread, and is not flagged.
* ``error_page``: >= 90% of the pixels within a Chebyshev distance of 24 (per BGR
  channel) of the dominant colour, and not black, measured on an 80 px wide area
  average of the analysis picture (3,600 pixels at 16:9: 0.1–0.5 ms, against 2.5–4 ms at
  320 px, and the same verdicts). The "no signal" / "视频丢失" screens of recorders
  are one flat colour with a line or two of text: the farm's and the tests' measure
  95–96% at 80 px (96–97% at 320 px); the farm's street scenes measure 23–57%.
* ``blurred``: sharpness (variance of the Laplacian of the gray picture at a fixed
  width of 320 px) < 60. Measured on the farm's street scenes (the test scenes): sharp
  pictures give 900–1090 at 1920x1080 and 1180–1830 at 640x360; the same scenes under
  a Gaussian blur of sigma = width/100 give 3–5. The curve between is smooth: 60 is
  reached at a blur of sigma ≈ 0.3% of the width (2 px at 640, 6–7 px at 1920), which
  is where text and edges visibly smear. Measuring at a fixed width keeps the figure
  independent of the camera's resolution (a plain, low-contrast scene, such as a dim
  corridor, can still fall under it). A flat picture already flagged black or
  error_page is not also flagged blurred: the other flag says why it has no edges.

The flags are exclusive: black, else error_page, else blurred. An error_page is also
what a camera staring at a cloudless sky looks like; that is a picture worth
flagging too.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from catalog.store.thumbs import (
    THUMB_QUALITY,
    THUMB_WIDTH,
    decode_reduced,
    decode_scale_for,
    encode_thumbnail,
    resize_to_width,
)

__all__ = [
    "ANALYSIS_WIDTH",
    "BLUR_THRESHOLD",
    "PHASH_SAME_DISTANCE",
    "THUMB_QUALITY",
    "ImageCheck",
    "NotAnImage",
    "decode_scale_for",
    "hamming",
    "inspect_jpeg",
    "jpeg_dimensions",
    "phash",
]

#: two pHashes at most this many bits apart show the same, unchanged picture
PHASH_SAME_DISTANCE = 4

#: the width at which brightness and sharpness are measured (the thumbnail's: the
#: analysis picture is the thumbnail's picture)
ANALYSIS_WIDTH = THUMB_WIDTH
MAX_DIMENSION = 20000

BLACK_MAX_MEAN = 16.0
BLACK_MAX_STD = 12.0
ERROR_PAGE_SHARE = 0.90
ERROR_PAGE_DISTANCE = 24
#: the width of the area-averaged reduction the error-page share and the pHash are
#: measured on (the pHash's 32x32 from 80x45 rather than 320x180: 0.13 ms less, and as
#: stable under noise)
ERROR_PAGE_WIDTH = 80
BLUR_THRESHOLD = 60.0

_MASK64 = (1 << 64) - 1
_SOF_BASELINE = frozenset({0xC0, 0xC1, 0xC2})
# every other start-of-frame: lossless, hierarchical, arithmetic-coded; OpenCV cannot decode them
_SOF_OTHER = frozenset({0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


class NotAnImage(ValueError):
    """The bytes are not a complete, decodable JPEG; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageCheck:
    """What :func:`inspect_jpeg` learnt about one snapshot."""

    width: int
    height: int
    brightness: float
    sharpness: float
    flags: tuple[str, ...]
    phash: int
    #: the thumbnail's JPEG bytes; None when the picture looked the same as the one
    #: :func:`inspect_jpeg` was told of (it will not be stored, so none was made)
    thumb: bytes | None
    thumb_width: int
    thumb_height: int
    #: the libjpeg scale denominator used for the one decode (1, 2, 4 or 8)
    decode_scale: int


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    """Validate the marker structure and return ``(width, height)`` from the SOF segment.

    Raises :class:`NotAnImage` ("not a JPEG", "truncated JPEG", "bad dimensions",
    "undecodable JPEG") without decoding any pixel.
    """
    if len(data) < 4 or data[:3] != b"\xff\xd8\xff":
        raise NotAnImage("not a JPEG")
    size = _walk_segments(data)
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise NotAnImage("truncated JPEG")
    return size


def _walk_segments(data: bytes) -> tuple[int, int]:
    """Walk the header segments from SOI to the first SOS; return the SOF's size."""
    pos = 2
    size: tuple[int, int] | None = None
    while True:
        if pos + 2 > len(data):
            raise NotAnImage("truncated JPEG")
        if data[pos] != 0xFF:
            raise NotAnImage("undecodable JPEG")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        length = _segment_length(data, pos, marker)
        if marker in _SOF_BASELINE:
            size = _frame_size(data, pos, length)
        elif marker == 0xDA:
            if size is None:
                raise NotAnImage("undecodable JPEG")
            return size
        pos += 2 + length


def _segment_length(data: bytes, pos: int, marker: int) -> int:
    """The length of the segment at ``pos``, checked against the data and the marker."""
    if marker == 0xD9 or marker in _SOF_OTHER:  # EOI before a scan; a SOF OpenCV cannot read
        raise NotAnImage("undecodable JPEG")
    if pos + 4 > len(data):
        raise NotAnImage("truncated JPEG")
    length = int.from_bytes(data[pos + 2 : pos + 4], "big")
    if length < 2:
        raise NotAnImage("undecodable JPEG")
    if pos + 2 + length > len(data):
        raise NotAnImage("truncated JPEG")
    return length


def _frame_size(data: bytes, pos: int, length: int) -> tuple[int, int]:
    if length < 8:
        raise NotAnImage("undecodable JPEG")
    height = int.from_bytes(data[pos + 5 : pos + 7], "big")
    width = int.from_bytes(data[pos + 7 : pos + 9], "big")
    if not (1 <= width <= MAX_DIMENSION and 1 <= height <= MAX_DIMENSION):
        raise NotAnImage("bad dimensions")
    return width, height


def inspect_jpeg(
    data: bytes, *, thumb_width: int = THUMB_WIDTH, unless_like: int | None = None
) -> ImageCheck:
    """Check, measure, hash and thumbnail one JPEG with a single reduced-scale decode.

    Raises :class:`NotAnImage` for anything that is not a complete JPEG. A picture
    narrower than ``thumb_width`` gets a thumbnail of its own width (never upscaled).
    The thumbnail is made by the calls of :mod:`catalog.store.thumbs`, so that one
    rebuilt from the stored image later has the same bytes. A picture whose pHash is
    within ``PHASH_SAME_DISTANCE`` of ``unless_like`` (the last stored picture's) gets
    none: it is recorded as unchanged, not stored, and encoding its thumbnail would
    be about a quarter of the work done beyond the decode (0.4 ms of 1.4 at 1080p).
    """
    if thumb_width < 1:
        raise ValueError("thumb_width must be positive")
    width, height = jpeg_dimensions(data)
    scale = decode_scale_for(width, thumb_width)
    image = decode_reduced(data, scale)
    if image is None:
        raise NotAnImage("undecodable JPEG")

    analysis = resize_to_width(image, ANALYSIS_WIDTH, width, height)
    gray = np.asarray(cv2.cvtColor(analysis, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    mean, std = cv2.meanStdDev(gray)
    brightness, spread = float(mean[0, 0]), float(std[0, 0])
    # CV_16S holds every Laplacian of 8-bit pixels exactly (|value| <= 4 * 255)
    _, lap_std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))
    sharpness = float(lap_std[0, 0]) ** 2

    coarse = _area_reduced(analysis)
    flags: list[str] = []
    if brightness < BLACK_MAX_MEAN and spread < BLACK_MAX_STD:
        flags.append("black")
    elif _dominant_share(coarse) >= ERROR_PAGE_SHARE:
        flags.append("error_page")
    elif sharpness < BLUR_THRESHOLD:
        flags.append("blurred")

    tw = min(thumb_width, width)
    thumb_img = analysis if tw == ANALYSIS_WIDTH else resize_to_width(image, tw, width, height)
    hashed = phash(np.asarray(cv2.cvtColor(coarse, cv2.COLOR_BGR2GRAY), dtype=np.uint8))
    unchanged = unless_like is not None and hamming(hashed, unless_like) <= PHASH_SAME_DISTANCE
    return ImageCheck(
        width=width,
        height=height,
        brightness=round(brightness, 2),
        sharpness=round(sharpness, 2),
        flags=tuple(flags),
        phash=hashed,
        thumb=None if unchanged else encode_thumbnail(thumb_img),
        thumb_width=int(thumb_img.shape[1]),
        thumb_height=int(thumb_img.shape[0]),
        decode_scale=scale,
    )


def _area_reduced(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``image`` reduced to ``ERROR_PAGE_WIDTH`` wide by an area average.

    An area average keeps a flat screen flat and fades thin text lines into it.
    """
    if image.shape[1] <= ERROR_PAGE_WIDTH:
        return image
    h = max(1, round(image.shape[0] * ERROR_PAGE_WIDTH / image.shape[1]))
    return np.asarray(
        cv2.resize(image, (ERROR_PAGE_WIDTH, h), interpolation=cv2.INTER_AREA), np.uint8
    )


def _dominant_share(image: NDArray[np.uint8]) -> float:
    """The share of pixels near the most common colour of ``image``, an area reduction.

    The mode of a coarse 8x8x8 histogram picks the dominant colour, and the share is
    of the pixels within ``ERROR_PAGE_DISTANCE`` of that colour's mean (per channel,
    integer part). A handful of OpenCV calls rather than numpy's: each numpy step on
    3,600 pixels costs more in overhead than in arithmetic, and holds the GIL while
    it does.
    """
    # bins of 32 levels per channel, in B, G, R order; argmax takes the first mode
    hist = cv2.calcHist([image], [0, 1, 2], None, [8, 8, 8], [0, 256, 0, 256, 0, 256])
    bins = np.unravel_index(int(np.argmax(hist)), hist.shape)
    low = tuple(32 * int(b) for b in bins)
    in_mode = cv2.inRange(image, low, tuple(v + 31 for v in low))
    dominant = [int(m) for m in cv2.mean(image, mask=in_mode)[:3]]  # truncated, as int16
    near = cv2.inRange(
        image,
        tuple(v - ERROR_PAGE_DISTANCE for v in dominant),
        tuple(v + ERROR_PAGE_DISTANCE for v in dominant),
    )
    return float(cv2.countNonZero(near) / near.size)


def phash(gray: NDArray[np.uint8]) -> int:
    """64-bit DCT perceptual hash of a gray picture, as a signed int64 value.

    The picture is reduced to 32x32, transformed with a 2-D DCT, and each of the 8x8
    lowest frequencies becomes one bit: set when above their median (the pHash of
    Zauner 2010, as in the ``imagehash`` package). Bit 63 is the (0, 0) coefficient.
    """
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8]
    # the median of 64 values, as np.median takes it (the mean of the middle two),
    # from one sort: np.median's own overhead is most of a pHash's Python time
    middle = np.sort(low, axis=None)[31:33]
    median = (middle[0] + middle[1]) / np.float32(2)
    bits = np.packbits(low > median)  # row-major, first coefficient in bit 63
    return int.from_bytes(bits.tobytes(), "big", signed=True)


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit hashes, signed or unsigned."""
    return ((a ^ b) & _MASK64).bit_count()
