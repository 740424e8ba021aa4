"""Unit tests of ingest.image: structure checks, measurements, flags, pHash, thumbnails."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from ingest.farm.frames import (
    VARIANTS,
    black_frame,
    blurred_frame,
    encode_jpeg,
    error_page_frame,
    render_scene,
)
from ingest.image import (
    BLUR_THRESHOLD,
    PHASH_SAME_DISTANCE,
    NotAnImage,
    decode_scale_for,
    hamming,
    inspect_jpeg,
    jpeg_dimensions,
    phash,
)

Image = NDArray[np.uint8]
INT64 = (-(1 << 63), (1 << 63) - 1)


def scene(index: int = 0, variant: int = 0, width: int = 640, height: int = 360) -> Image:
    return render_scene(index, variant, width=width, height=height)


def add_noise(img: Image, sigma: float, seed: int = 1) -> Image:
    noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8)


def flat_screen(color: tuple[int, int, int], lines: tuple[str, ...]) -> Image:
    """A recorder's "no signal" screen: one colour, a few lines of white text."""
    img = np.empty((576, 704, 3), np.uint8)
    img[:] = color
    for i, text in enumerate(lines):
        cv2.putText(img, text, (150, 260 + 60 * i), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255,) * 3, 3)
    cv2.putText(img, "2024-06-01 08:00:00", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255,) * 3, 2)
    return img


def patch_sof(data: bytes, width: int, height: int) -> bytes:
    """The same JPEG with other dimensions written into its SOF0 segment."""
    pos = data.index(b"\xff\xc0")
    return data[: pos + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[pos + 9 :]


def test_sharp_scene_is_measured_and_not_flagged() -> None:
    check = inspect_jpeg(encode_jpeg(scene()))
    assert (check.width, check.height) == (640, 360)
    assert check.flags == ()
    assert 40 < check.brightness < 200
    assert check.sharpness > 3 * BLUR_THRESHOLD
    assert (check.thumb_width, check.thumb_height) == (320, 180)
    assert check.thumb is not None
    thumb = cv2.imdecode(np.frombuffer(check.thumb, np.uint8), cv2.IMREAD_COLOR)
    assert thumb is not None
    assert thumb.shape == (180, 320, 3)
    assert check.decode_scale == 2
    assert INT64[0] <= check.phash <= INT64[1]


def test_full_hd_is_decoded_at_a_quarter() -> None:
    data = encode_jpeg(scene(2, width=1920, height=1080))
    check = inspect_jpeg(data)
    assert (check.width, check.height) == (1920, 1080)
    assert check.decode_scale == 4  # 480x270 decoded, never the full 1920x1080
    assert (check.thumb_width, check.thumb_height) == (320, 180)
    assert check.flags == ()
    assert check.thumb is not None
    assert len(check.thumb) < len(data) // 10


@pytest.mark.parametrize(
    ("width", "thumb_width", "scale"),
    [(640, 320, 2), (1280, 320, 4), (1920, 320, 4), (2560, 320, 8), (3840, 320, 8),
     (300, 320, 1), (320, 320, 1), (641, 320, 2), (1920, 640, 2)],
)  # fmt: skip
def test_decode_scale_keeps_the_thumbnail_width(width: int, thumb_width: int, scale: int) -> None:
    assert decode_scale_for(width, thumb_width) == scale


def test_other_thumb_width_and_a_narrow_picture() -> None:
    wide = inspect_jpeg(encode_jpeg(scene(width=1920, height=1080)), thumb_width=640)
    assert (wide.thumb_width, wide.thumb_height, wide.decode_scale) == (640, 360, 2)
    narrow = inspect_jpeg(encode_jpeg(scene(width=200, height=150)))
    assert (narrow.thumb_width, narrow.thumb_height, narrow.decode_scale) == (200, 150, 1)


def test_same_scene_with_noise_keeps_its_phash() -> None:
    img = scene(3)
    first = inspect_jpeg(encode_jpeg(img, 90))
    again = inspect_jpeg(encode_jpeg(add_noise(img, 6.0), 70))
    assert hamming(first.phash, again.phash) <= PHASH_SAME_DISTANCE


def test_a_picture_like_the_last_stored_one_gets_no_thumbnail_and_the_same_verdicts() -> None:
    img = scene(3)
    stored = inspect_jpeg(encode_jpeg(img, 90))
    data = encode_jpeg(add_noise(img, 6.0), 70)
    alone = inspect_jpeg(data)
    like = inspect_jpeg(data, unless_like=stored.phash)
    assert like.thumb is None
    assert alone.thumb is not None
    assert replace(like, thumb=alone.thumb) == alone


def test_a_picture_unlike_the_last_stored_one_gets_its_thumbnail() -> None:
    other = inspect_jpeg(encode_jpeg(scene(1)))
    data = encode_jpeg(scene(0))
    assert hamming(inspect_jpeg(data).phash, other.phash) > PHASH_SAME_DISTANCE
    assert inspect_jpeg(data, unless_like=other.phash).thumb == inspect_jpeg(data).thumb


def test_a_different_scene_has_a_distant_phash() -> None:
    a = inspect_jpeg(encode_jpeg(scene(0))).phash
    b = inspect_jpeg(encode_jpeg(scene(1))).phash
    assert hamming(a, b) > 10


def test_phash_does_not_depend_on_resolution() -> None:
    img = render_scene(4, width=1920, height=1080)
    small = cv2.resize(img, (640, 360), interpolation=cv2.INTER_AREA)
    a, b = inspect_jpeg(encode_jpeg(img)), inspect_jpeg(encode_jpeg(small))
    assert (a.decode_scale, b.decode_scale) == (4, 2)
    assert hamming(a.phash, b.phash) <= PHASH_SAME_DISTANCE


def test_farm_time_variants_are_changed_pictures() -> None:
    hashes = [inspect_jpeg(encode_jpeg(scene(5, v))).phash for v in range(VARIANTS)]
    for v in range(VARIANTS):
        assert hamming(hashes[v], hashes[(v + 1) % VARIANTS]) > PHASH_SAME_DISTANCE


def test_black_frame() -> None:
    img = add_noise(np.full((720, 1280, 3), 6, np.uint8), 2.0)
    check = inspect_jpeg(encode_jpeg(img))
    assert check.flags == ("black",)
    assert check.brightness < 16
    assert inspect_jpeg(encode_jpeg(black_frame())).flags == ("black",)


def test_dark_scene_with_lights_is_not_black() -> None:
    img = (scene(6).astype(np.float64) * 0.08).astype(np.uint8)
    for x in range(40, 640, 90):
        cv2.circle(img, (x, 120), 10, (200, 230, 255), -1)
    check = inspect_jpeg(encode_jpeg(img))
    assert check.brightness < 16
    assert "black" not in check.flags


@pytest.mark.parametrize(
    "color", [(170, 60, 20), (255, 0, 0), (128, 128, 128)], ids=["blue", "pure-blue", "grey"]
)
def test_no_signal_screen_is_an_error_page(color: tuple[int, int, int]) -> None:
    img = add_noise(flat_screen(color, ("NO SIGNAL", "VIDEO LOSS")), 1.5)
    check = inspect_jpeg(encode_jpeg(img))
    assert check.flags == ("error_page",)


def test_farm_error_pages_are_error_pages() -> None:
    for variant in range(2):
        check = inspect_jpeg(encode_jpeg(error_page_frame(variant)))
        assert check.flags == ("error_page",)


def test_heavy_blur_is_flagged_and_the_sharp_scene_is_not() -> None:
    for width, height in ((640, 360), (1920, 1080)):
        img = scene(7, width=width, height=height)
        sharp = inspect_jpeg(encode_jpeg(img))
        blurred = inspect_jpeg(encode_jpeg(cv2.GaussianBlur(img, (0, 0), width / 100)))
        assert "blurred" not in sharp.flags
        assert blurred.flags == ("blurred",)
        assert blurred.sharpness < BLUR_THRESHOLD < sharp.sharpness
    assert inspect_jpeg(encode_jpeg(blurred_frame())).flags == ("blurred",)


def test_progressive_jpeg_decodes() -> None:
    data = encode_jpeg(scene(8), progressive=True)
    assert b"\xff\xc2" in data
    check = inspect_jpeg(data)
    assert (check.width, check.height, check.flags) == (640, 360, ())


def test_grayscale_jpeg_decodes() -> None:
    gray = cv2.cvtColor(scene(9), cv2.COLOR_BGR2GRAY)
    check = inspect_jpeg(encode_jpeg(gray))
    assert (check.width, check.height, check.flags) == (640, 360, ())


def test_comment_segments_and_trailing_padding_are_accepted() -> None:
    data = encode_jpeg(scene(10))
    commented = b"\xff\xd8\xff\xfe\x00\x07hello" + data[2:]
    assert inspect_jpeg(commented).phash == inspect_jpeg(data).phash
    assert inspect_jpeg(data + b"\x00" * 100).width == 640


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.01], ids=["half", "most", "header"])
def test_truncated_jpeg(cut: float) -> None:
    data = encode_jpeg(scene(11))
    with pytest.raises(NotAnImage, match=r"^truncated JPEG$"):
        inspect_jpeg(data[: int(len(data) * cut)])


def test_missing_eoi_is_truncated() -> None:
    with pytest.raises(NotAnImage) as caught:
        inspect_jpeg(encode_jpeg(scene(11))[:-2])
    assert caught.value.reason == "truncated JPEG"


def png_bytes() -> bytes:
    ok, buf = cv2.imencode(".png", scene(12))
    assert ok
    return bytes(buf.tobytes())


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body><h1>401 Unauthorized</h1></body></html>",
        np.random.default_rng(3).bytes(20_000),
        png_bytes(),
        b"",
        b"\xff\xd8",
        b'{"error": "busy"}',
    ],
    ids=["html", "random", "png", "empty", "soi-only", "json"],
)
def test_not_a_jpeg(data: bytes) -> None:
    with pytest.raises(NotAnImage, match=r"^not a JPEG$"):
        inspect_jpeg(data)


def test_not_an_image_is_a_value_error() -> None:
    assert issubclass(NotAnImage, ValueError)


@pytest.mark.parametrize(("width", "height"), [(30000, 360), (640, 25000), (0, 360), (640, 0)])
def test_bad_dimensions(width: int, height: int) -> None:
    data = patch_sof(encode_jpeg(scene(13)), width, height)
    with pytest.raises(NotAnImage, match=r"^bad dimensions$"):
        inspect_jpeg(data)


def test_dimensions_come_from_the_sof_without_decoding() -> None:
    data = encode_jpeg(scene(14, width=800, height=450))
    assert jpeg_dimensions(data) == (800, 450)


def test_lossless_or_broken_structure_is_undecodable() -> None:
    data = encode_jpeg(scene(15))
    lossless = data.replace(b"\xff\xc0", b"\xff\xc3", 1)
    with pytest.raises(NotAnImage, match=r"^undecodable JPEG$"):
        inspect_jpeg(lossless)
    no_frame = data.replace(b"\xff\xc0", b"\xff\xe5", 1)  # SOF turned into an APP segment
    with pytest.raises(NotAnImage, match=r"^undecodable JPEG$"):
        inspect_jpeg(no_frame)
    not_a_marker = data[:2] + b"\xff\xe0\x00\x10" + b"x" * 14 + b"\x00garbage" + data[-2:]
    with pytest.raises(NotAnImage, match=r"^undecodable JPEG$"):
        inspect_jpeg(not_a_marker)


def test_hamming() -> None:
    assert hamming(0, 0) == 0
    assert hamming(-1, 0) == 64
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(-(1 << 63), 0) == 1
    assert hamming((1 << 64) - 1, -1) == 0  # unsigned and signed views of one hash


def test_phash_fits_a_signed_64_bit_column() -> None:
    hashes = {inspect_jpeg(encode_jpeg(scene(i))).phash for i in range(16)}
    assert len(hashes) == 16
    assert all(INT64[0] <= h <= INT64[1] for h in hashes)


def test_thumb_width_must_be_positive() -> None:
    with pytest.raises(ValueError, match="thumb_width"):
        inspect_jpeg(encode_jpeg(scene()), thumb_width=0)


def test_phash_bits_are_the_low_dct_coefficients_row_by_row() -> None:
    gray: Image = np.asarray(cv2.cvtColor(scene(16), cv2.COLOR_BGR2GRAY), np.uint8)
    small = cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8]
    value = 0
    for bit in (low > np.median(low)).flatten():  # bit 63 is the (0, 0) coefficient
        value = (value << 1) | int(bit)
    assert phash(gray) == (value - (1 << 64) if value >= 1 << 63 else value)


@pytest.mark.parametrize(("band_rows", "error_page"), [(3, True), (7, False)])
def test_error_page_share_is_of_the_dominant_colour(band_rows: int, error_page: bool) -> None:
    # 45 rows at the 80 px measure: a band of 3 leaves 93% of one colour, of 7 84%
    img = np.empty((360, 640, 3), np.uint8)
    img[:] = (160, 90, 40)
    img[360 - 8 * band_rows :] = (40, 200, 200)
    check = inspect_jpeg(encode_jpeg(img))
    assert ("error_page" in check.flags) is error_page
