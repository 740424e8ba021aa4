"""Synthetic camera pictures for the farm: street scenes rendered once, then served as bytes.

Every picture is a pure function of ``(seed, scene, variant, width, height)``, so a
farm built twice from one seed serves the same bytes. Scenes are drawn with OpenCV
primitives (sky, buildings with windows, a road in perspective, trees, vehicles) and
then textured with noise at three scales, so that JPEG sizes and measurements look
like a real street camera's rather than a flat cartoon's. Time variants of one scene
move the vehicles (a bus among them, large enough to change the perceptual hash) and
the burnt-in clock; the background and its noise stay put.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]

#: distinct scenes and time variants in a pool; cameras share scenes round-robin
SCENES = 48
VARIANTS = 4
#: pictures kept per special kind ("black", "error_page", "blurred")
SPECIAL_KINDS = ("black", "error_page", "blurred")


def encode_jpeg(image: NDArray[Any], quality: int = 85, *, progressive: bool = False) -> bytes:
    """Encode a BGR or gray picture as a baseline (or progressive) JPEG."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    if progressive:
        params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    ok, buf = cv2.imencode(".jpg", image, params)
    if not ok:  # pragma: no cover - OpenCV only fails on empty input
        raise ValueError("cannot encode picture")
    return buf.tobytes()


@dataclass(frozen=True)
class _Vehicle:
    lane_y: float  # bottom edge, fraction of the height
    x0: float  # position at variant 0, fraction of the width
    speed: float  # fraction of the width per variant
    length: float  # fraction of the width at the bottom of the picture
    ratio: float  # height / length
    color: tuple[int, int, int]


@dataclass
class _Layout:
    """The still part of one scene: the clean drawing and its noise texture."""

    background: Image
    noise: NDArray[np.int16]
    horizon: int
    vehicles: list[_Vehicle] = field(default_factory=list)


def _rng(seed: int, scene: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, scene, salt])


def _color(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    b, g, r = (int(v) for v in rng.integers(low, high, size=3))
    return (b, g, r)


def _sky(rng: np.random.Generator, img: Image, horizon: int) -> None:
    top = rng.uniform([150, 110, 60], [235, 190, 140])
    low = rng.uniform([190, 180, 160], [250, 240, 230])
    t = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None, None]
    img[:horizon] = (top * (1 - t) + low * t).astype(np.uint8)


def _buildings(rng: np.random.Generator, img: Image, horizon: int) -> None:
    h, w = img.shape[:2]
    x = int(-rng.uniform(0, 0.05) * w)
    while x < w:
        bw = int(rng.uniform(0.06, 0.2) * w)
        top = int(horizon - rng.uniform(0.1, 0.3) * h)
        cv2.rectangle(img, (x, top), (x + bw, horizon), _color(rng, 60, 200), -1)
        win = max(2, int(h * rng.uniform(0.012, 0.02)))
        lit = _color(rng, 120, 255)
        for wy in range(top + win, horizon - win, win * 2):
            for wx in range(x + win, x + bw - win, win * 2):
                tone = lit if rng.random() < 0.4 else (50, 50, 60)
                cv2.rectangle(img, (wx, wy), (wx + win - 1, wy + win - 1), tone, -1)
        x += bw + int(rng.uniform(0, 0.03) * w)


def _ground(rng: np.random.Generator, img: Image, horizon: int) -> None:
    h, w = img.shape[:2]
    img[horizon:] = _color(rng, 90, 150)
    vx = rng.uniform(0.35, 0.65) * w
    road = np.array(
        [[vx - 0.04 * w, horizon], [vx + 0.04 * w, horizon], [1.3 * w, h], [-0.3 * w, h]],
        dtype=np.int32,
    )
    grey = int(rng.integers(60, 110))
    cv2.fillConvexPoly(img, road, (grey, grey, grey + 5))
    for lane in (-0.5, 0.0, 0.5):
        for k in range(8):
            t0, t1 = (k + 0.2) / 8, (k + 0.6) / 8
            p0 = (int(vx + lane * 1.6 * w * t0**2), int(horizon + (h - horizon) * t0**2))
            p1 = (int(vx + lane * 1.6 * w * t1**2), int(horizon + (h - horizon) * t1**2))
            cv2.line(img, p0, p1, (230, 230, 230), max(1, int(h * 0.006 * (t0 + 0.2))))
    for _ in range(int(rng.integers(3, 8))):
        tx = int(rng.uniform(0, w))
        ty = int(horizon + rng.uniform(-0.02, 0.08) * h)
        radius = int(rng.uniform(0.03, 0.09) * h)
        cv2.line(img, (tx, ty), (tx, ty + 2 * radius), (40, 60, 80), max(1, radius // 5))
        cv2.circle(img, (tx, ty), radius, _color(rng, 30, 120), -1)


def _noise(rng: np.random.Generator, h: int, w: int) -> NDArray[np.int16]:
    """Lighting, surface texture and sensor noise; what makes the JPEG size realistic."""
    total = np.zeros((h, w), np.float32)
    for cells, amplitude in ((24, 14.0), (4, 7.0)):
        small = rng.standard_normal((h // cells + 2, w // cells + 2)).astype(np.float32)
        total += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amplitude
    grain = rng.standard_normal((h, w, 3), dtype=np.float32) * 4.0
    return (grain + total[:, :, None]).astype(np.int16)


def _layout(scene: int, width: int, height: int, seed: int) -> _Layout:
    rng = _rng(seed, scene, 1)
    img = np.zeros((height, width, 3), np.uint8)
    horizon = int(height * rng.uniform(0.32, 0.45))
    _sky(rng, img, horizon)
    _buildings(rng, img, horizon)
    _ground(rng, img, horizon)
    vehicles = [
        _Vehicle(
            lane_y=rng.uniform(0.55, 0.98),
            x0=rng.uniform(0, 1),
            speed=rng.uniform(0.15, 0.3) * rng.choice([-1, 1]),
            length=rng.uniform(0.12, 0.2),
            ratio=rng.uniform(0.4, 0.55),
            color=_color(rng, 20, 240),
        )
        for _ in range(int(rng.integers(3, 6)))
    ]
    # one bus: big enough that its moving changes the low frequencies (the pHash)
    vehicles.append(
        _Vehicle(
            lane_y=rng.uniform(0.8, 0.95),
            x0=rng.uniform(0, 1),
            speed=0.25,
            length=0.45,
            ratio=0.45,
            color=_color(rng, 30, 230),
        )
    )
    noise = _noise(_rng(seed, scene, 2), height, width)
    return _Layout(img, noise, horizon, sorted(vehicles, key=lambda v: v.lane_y))


def _draw_vehicle(img: Image, v: _Vehicle, variant: int, horizon: int) -> None:
    h, w = img.shape[:2]
    depth = (v.lane_y * h - horizon) / (h - horizon)  # 0 at the horizon, 1 at the bottom
    length = max(4, int(v.length * w * (0.3 + 0.7 * depth)))
    height = max(3, int(length * v.ratio))
    span = w + length
    x = int(((v.x0 + v.speed * variant) % 1.0) * span) - length
    y1 = int(v.lane_y * h)
    y0 = y1 - height
    dark = tuple(max(0, c - 70) for c in v.color)
    cv2.rectangle(img, (x, y0), (x + length, y1), v.color, -1)
    cv2.rectangle(
        img,
        (x + length // 10, y0 + height // 8),
        (x + length * 9 // 10, y0 + height // 2),
        dark,
        -1,
    )
    wheel = max(2, height // 5)
    for wx in (x + length // 5, x + length * 4 // 5):
        cv2.circle(img, (wx, y1), wheel, (20, 20, 20), -1)


def _osd(img: Image, top: str, bottom: str) -> None:
    """Burn the clock and the camera label in, white on a dark outline like a real OSD."""
    h, w = img.shape[:2]
    scale = h / 720
    thick = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    size, _ = cv2.getTextSize(bottom, font, scale, thick)
    for text, org in (
        (top, (int(12 * scale), int(36 * scale))),
        (bottom, (w - size[0] - int(12 * scale), h - int(16 * scale))),
    ):
        cv2.putText(img, text, org, font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, text, org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)


def _textured(img: Image, noise: NDArray[np.int16]) -> Image:
    out = img.astype(np.int16)
    out += noise
    return np.clip(out, 0, 255).astype(np.uint8)


def _compose(layout: _Layout, scene: int, variant: int) -> Image:
    img = layout.background.copy()
    for vehicle in layout.vehicles:
        _draw_vehicle(img, vehicle, variant, layout.horizon)
    img = _textured(img, layout.noise)
    _osd(img, f"2024-06-01 08:{variant * 5:02d}:{scene % 60:02d}", f"CAM {scene:02d}")
    return img


def render_scene(
    scene: int, variant: int = 0, *, width: int = 640, height: int = 360, seed: int = 0
) -> Image:
    """One street-camera picture (BGR): scene ``scene`` at time variant ``variant``."""
    return _compose(_layout(scene, width, height, seed), scene, variant)


def black_frame(variant: int = 0, *, width: int = 640, height: int = 360, seed: int = 0) -> Image:
    """A covered lens or a dead sensor at night: near-black with faint noise."""
    rng = _rng(seed, variant, 3)
    img = rng.normal(5.0, 2.0, size=(height, width, 3)).clip(0, 255).astype(np.uint8)
    return img


def error_page_frame(
    variant: int = 0, *, width: int = 640, height: int = 360, seed: int = 0
) -> Image:
    """The flat screen a recorder sends for a lost channel: blue or grey, a line of text."""
    rng = _rng(seed, variant, 4)
    color = (170, 60, 20) if variant % 2 == 0 else (128, 128, 128)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = color
    img = _textured(img, rng.normal(0, 1.5, size=(height, width, 3)).astype(np.int16))
    scale = height / 360
    thick = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for text, dy in (("NO SIGNAL", -0.05), ("VIDEO LOSS", 0.08)):
        size, _ = cv2.getTextSize(text, font, 1.2 * scale, thick)
        org = ((width - size[0]) // 2, int(height * (0.5 + dy)))
        cv2.putText(img, text, org, font, 1.2 * scale, (255, 255, 255), thick, cv2.LINE_AA)
    _osd(img, f"2024-06-01 08:{variant * 5:02d}:00", "CH 01")
    return img


def blurred_frame(variant: int = 0, *, width: int = 640, height: int = 360, seed: int = 0) -> Image:
    """A camera out of focus (or fogged): a street scene under a heavy Gaussian blur."""
    img = render_scene(SCENES + variant, variant, width=width, height=height, seed=seed)
    sigma = max(2.0, width / 100)
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), dtype=np.uint8)


@dataclass(frozen=True)
class FramePool:
    """Pre-encoded JPEG frames: ``scenes[scene][variant]`` and ``special[kind][variant]``."""

    width: int
    height: int
    quality: int
    scenes: dict[int, tuple[bytes, ...]]
    special: dict[str, tuple[bytes, ...]]

    def scene(self, scene: int, variant: int) -> bytes:
        """The frame of ``scene`` (modulo the pool) at ``variant`` (modulo the variants)."""
        frames = self.scenes[scene % SCENES]
        return frames[variant % len(frames)]


def _scene_frames(
    scene: int, width: int, height: int, quality: int, seed: int
) -> tuple[bytes, ...]:
    layout = _layout(scene, width, height, seed)
    return tuple(encode_jpeg(_compose(layout, scene, v), quality) for v in range(VARIANTS))


def _special_frames(
    kind: str, width: int, height: int, quality: int, seed: int
) -> tuple[bytes, ...]:
    render = {"black": black_frame, "error_page": error_page_frame, "blurred": blurred_frame}[kind]
    return tuple(
        encode_jpeg(render(v, width=width, height=height, seed=seed), quality) for v in range(2)
    )


def build_frame_pool(
    scenes: Iterable[int],
    *,
    width: int = 640,
    height: int = 360,
    quality: int = 85,
    seed: int = 0,
    workers: int = 2,
) -> FramePool:
    """Render and encode the frames of ``scenes`` (and the special kinds) on a few threads.

    OpenCV releases the GIL while drawing, resizing and encoding, so threads do help.
    """
    wanted = sorted({s % SCENES for s in scenes})
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="farm-frames") as pool:
        scene_jobs = {
            s: pool.submit(_scene_frames, s, width, height, quality, seed) for s in wanted
        }
        special_jobs = {
            k: pool.submit(_special_frames, k, width, height, quality, seed) for k in SPECIAL_KINDS
        }
        return FramePool(
            width=width,
            height=height,
            quality=quality,
            scenes={s: job.result() for s, job in scene_jobs.items()},
            special={k: job.result() for k, job in special_jobs.items()},
        )
