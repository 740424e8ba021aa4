"""The simulated camera farm used by ``camgrid demo``, the tests and the benchmarks.

>>> farm = build_farm(100, seed=1)
>>> await farm.start()            # doctest: +SKIP
>>> farm.url(3)                   # doctest: +SKIP
'http://127.0.0.1:40123/cam/3/snapshot.jpg'
"""

from ingest.farm.cameras import (
    AUTH_SCHEMES,
    BEHAVIOURS,
    DEFAULT_MIX,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    Behaviour,
    FarmAuth,
    FarmCamera,
    plan_cameras,
)
from ingest.farm.frames import FramePool, build_frame_pool, encode_jpeg, render_scene
from ingest.farm.server import CameraFarm, build_farm

__all__ = [
    "AUTH_SCHEMES",
    "BEHAVIOURS",
    "DEFAULT_MIX",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "Behaviour",
    "CameraFarm",
    "FarmAuth",
    "FarmCamera",
    "FramePool",
    "build_farm",
    "build_frame_pool",
    "encode_jpeg",
    "plan_cameras",
    "render_scene",
]
