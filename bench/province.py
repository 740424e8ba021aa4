"""A synthetic province-scale catalog: cameras around cities, grid cells, names, snapshots.

Everything is drawn from one seeded `numpy` generator, so a size and a seed
always give the same catalog. The shapes follow a real province (Hunan's
extent): most cameras cluster around a dozen cities, the rest are spread
thinly; departments are per city and per kind of owner; grid cells of
0.01° exist around cities only; names mix Chinese road and place names with
a few Latin ones. Snapshots come every five minutes per camera, with a phase
of its own, ending at `END`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "END",
    "INTERVAL_S",
    "KINDS",
    "STATUSES",
    "TAGS",
    "Province",
    "SnapshotColumns",
    "make_province",
    "snapshot_columns",
]

LON0, LAT0, LON1, LAT1 = 108.8, 24.6, 114.3, 30.1
CELL_DEG: Final = 0.01
GRID_REACH_DEG: Final = 0.25  # cells exist this far around a city centre
INTERVAL_S: Final = 300
END: Final = datetime(2024, 5, 1, tzinfo=UTC)

STATUSES: Final = ("online", "degraded", "offline", "unknown", "retired")
_STATUS_P: Final = (0.85, 0.05, 0.06, 0.02, 0.02)
KINDS: Final = ("http", "rtsp", "onvif", "file")
_KIND_P: Final = (0.6, 0.3, 0.08, 0.02)
_OWNERS: Final = ("chengguan", "water", "edu", "police", "estate")
_OWNER_P: Final = (0.3, 0.1, 0.15, 0.35, 0.1)
TAGS: Final = (
    "crossroad", "school", "gate", "river", "pump", "park", "market", "bridge", "hospital",
    "station", "square", "tunnel", "road", "entrance", "exit", "parking", "flood", "fire",
    "hill", "lake",
)  # fmt: skip
_CITIES: Final = 14
# Common characters of Chinese place names; roads and places are drawn from them.
_HANZI: Final = (
    "建设红旗人民解放中山新华和平文化长江黄河东西南北中东湖山水林田园桥港湾"
    "明珠金银玉兴盛荣华富贵安康宁静春夏秋冬梅兰竹菊松柏杨柳桃李花果青翠云霞"
    "天元芦淞荷塘石峰渌口攸醴陵炎帝神农湘江株洲长沙岳阳常德衡阳邵阳益阳永州"
    "郴州怀化娄底张家界吉首龙泉凤凰狮子岭坡塘坪冲湾洲铺桥寺庙街巷里坊门楼阁"
)
_PLACES: Final = (
    "小区东门", "小区西门", "小学正门", "中学", "幼儿园", "泵站", "公园", "广场", "大桥",
    "医院", "农贸市场", "地铁站", "加油站", "停车场", "体育馆", "图书馆", "派出所",
    "社区服务中心", "菜市场", "汽车站",
)  # fmt: skip
_LATIN: Final = (
    "North", "South", "East", "West", "Central", "Station", "Gate", "Park", "Bridge", "Plaza",
    "Tower", "Market", "Lake", "River",
)  # fmt: skip


@dataclass
class Province:
    """A generated catalog: row tuples ready to load, and arrays to draw queries from."""

    size: int
    departments: list[tuple[str, str]]
    cells: list[dict[str, Any]]
    cameras: list[dict[str, Any]]
    lon: npt.NDArray[np.float64]  # NaN where a camera has no location
    lat: npt.NDArray[np.float64]
    city_centres: npt.NDArray[np.float64]

    @property
    def uids(self) -> list[str]:
        """Camera uids in generation order (not sorted)."""
        return [c["uid"] for c in self.cameras]


def _road_names(rng: np.random.Generator, n: int) -> list[str]:
    chars = np.array(list(_HANZI))
    firsts = rng.choice(chars, size=(n, 2))
    suffix = rng.choice(["路", "街", "大道", "巷"], size=n, p=[0.6, 0.25, 0.1, 0.05])
    return sorted({f"{a}{b}{s}" for (a, b), s in zip(firsts, suffix, strict=True)})


def _camera_name(rng: np.random.Generator, roads: list[str], k: int) -> str:
    r = rng.random()
    a, b = (roads[int(i)] for i in rng.integers(0, len(roads), 2))
    if r < 0.4:
        return f"{a}与{b}交叉口"
    if r < 0.8:
        chars = "".join(rng.choice(list(_HANZI), size=int(rng.integers(2, 4))))
        return f"{chars}{_PLACES[int(rng.integers(0, len(_PLACES)))]}"
    if r < 0.9:
        w1, w2 = (_LATIN[int(i)] for i in rng.integers(0, len(_LATIN), 2))
        return f"{w1} {w2} Gate {k % 97}"
    return f"{a}{k % 500}号 Camera-{k % 1000:03d}"


def _grid_of(lon: float, lat: float) -> tuple[int, int]:
    return int((lon - LON0) // CELL_DEG), int((lat - LAT0) // CELL_DEG)


def _cell_row(ix: int, iy: int) -> dict[str, Any]:
    x0, y0 = LON0 + ix * CELL_DEG, LAT0 + iy * CELL_DEG
    x1, y1 = x0 + CELL_DEG, y0 + CELL_DEG
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "grid_id": f"G{ix:03d}{iy:03d}",
        "name": f"网格{ix:03d}-{iy:03d}",
        "community": f"社区{ix // 3:03d}{iy // 3:03d}",
        "street": f"街道{ix // 12:02d}{iy // 12:02d}",
        "geometry": json.dumps({"type": "Polygon", "coordinates": [ring]}),
        "min_lon": x0,
        "min_lat": y0,
        "max_lon": x1,
        "max_lat": y1,
    }


def make_province(size: int, seed: int = 20240501) -> Province:
    """`size` cameras with their departments and grid cells."""
    rng = np.random.default_rng(seed)
    centres = np.column_stack(
        [rng.uniform(LON0 + 0.4, LON1 - 0.4, _CITIES), rng.uniform(LAT0 + 0.4, LAT1 - 0.4, _CITIES)]
    )
    city_weight = rng.dirichlet(np.ones(_CITIES) * 2.0)
    clustered = rng.random(size) < 0.75
    city = rng.choice(_CITIES, size=size, p=city_weight)
    lon = np.where(
        clustered, centres[city, 0] + rng.normal(0, 0.08, size), rng.uniform(LON0, LON1, size)
    )
    lat = np.where(
        clustered, centres[city, 1] + rng.normal(0, 0.08, size), rng.uniform(LAT0, LAT1, size)
    )
    lon, lat = np.round(np.clip(lon, LON0, LON1), 6), np.round(np.clip(lat, LAT0, LAT1), 6)
    # A spread camera belongs to the departments of its nearest city.
    nearest = np.argmin(
        (lon[:, None] - centres[None, :, 0]) ** 2 + (lat[:, None] - centres[None, :, 1]) ** 2,
        axis=1,
    )
    city = np.where(clustered, city, nearest)
    no_location = rng.random(size) < 0.02
    lon[no_location] = np.nan
    lat[no_location] = np.nan
    owner = rng.choice(len(_OWNERS), size=size, p=_OWNER_P)
    status = rng.choice(len(STATUSES), size=size, p=_STATUS_P)
    kind = rng.choice(len(KINDS), size=size, p=_KIND_P)
    tag_p = 1.0 / np.arange(1, len(TAGS) + 1)
    tag_p /= tag_p.sum()
    n_tags = rng.choice(4, size=size, p=[0.3, 0.4, 0.2, 0.1])
    roads = _road_names(rng, 3000)
    districts = [f"{_HANZI[i]}{_HANZI[i + 7]}区" for i in range(0, 6 * _CITIES)]
    departments = [(f"{o}-{c:02d}", f"{c:02d}市{o}局") for c in range(_CITIES) for o in _OWNERS]
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    cameras: list[dict[str, Any]] = []
    for k in range(size):
        dept = f"{_OWNERS[owner[k]]}-{city[k]:02d}"
        if _OWNERS[owner[k]] == "police":
            camera_id = f"4302{city[k]:02d}{k:014d}"
        else:
            camera_id = f"{_OWNERS[owner[k]][:2]}-{k:07d}"
        grid_id = None
        if not no_location[k]:
            cx, cy = centres[city[k]]
            if abs(lon[k] - cx) < GRID_REACH_DEG and abs(lat[k] - cy) < GRID_REACH_DEG:
                key = _grid_of(float(lon[k]), float(lat[k]))
                cell = cells.get(key) or cells.setdefault(key, _cell_row(*key))
                grid_id = cell["grid_id"]
        tags = sorted({TAGS[int(i)] for i in rng.choice(len(TAGS), n_tags[k], p=tag_p)})
        road = roads[int(rng.integers(0, len(roads)))]
        address = f"{districts[city[k] * 6 + int(rng.integers(0, 6))]}{road}{k % 300}号"
        cameras.append(
            {
                "uid": f"{dept}:{camera_id}",
                "department_id": dept,
                "camera_id": camera_id,
                "name": _camera_name(rng, roads, k),
                "address": address if rng.random() < 0.9 else "",
                "lon": None if no_location[k] else float(lon[k]),
                "lat": None if no_location[k] else float(lat[k]),
                "grid_id": grid_id,
                "kind": KINDS[kind[k]],
                "tags": tags,
                "status": STATUSES[status[k]],
            }
        )
    return Province(size, departments, list(cells.values()), cameras, lon, lat, centres)


@dataclass
class SnapshotColumns:
    """One chunk of snapshot rows, column by column (ids are consecutive from `first_id`)."""

    first_id: int
    camera: npt.NDArray[np.int64]  # index into Province.cameras
    captured_at_us: npt.NDArray[np.int64]  # microseconds since the Unix epoch, UTC

    def rows(self, uids: list[str], prefixes: list[str]) -> Iterator[tuple[Any, ...]]:
        """Row tuples in the snapshots table's column order; `captured_at` as UTC text.

        The text is `YYYY-MM-DD HH:MM:SS.ffffff`, the form SQLAlchemy stores on
        SQLite (PostgreSQL's COPY reads it as UTC with a `+00` appended).
        `prefixes` holds each camera's `DEPARTMENT/ID` part of its object keys.
        """
        times = np.datetime_as_string(self.captured_at_us.astype("datetime64[us]"), unit="us")
        for offset, (cam, iso) in enumerate(zip(self.camera.tolist(), times.tolist(), strict=True)):
            n = self.first_id + offset
            day, clock = iso[0:10].replace("-", "/"), iso[11:26].replace(":", "").replace(".", "")
            stamp = f"{day}/{clock}"
            key = f"{prefixes[cam]}/{stamp}-{n:012x}.jpg"
            yield (
                n, uids[cam], f"{iso[:10]} {iso[11:]}", 1920, 1080, 180_000 + n % 50_000,
                f"{n:064x}", n, f"img/{key}", f"thumb/{key}", 0.5, 120.0, "[]",
            )  # fmt: skip


def snapshot_columns(
    n_cameras: int, total: int, chunk: int = 500_000, seed: int = 7
) -> Iterator[SnapshotColumns]:
    """`total` snapshots spread evenly over `n_cameras`, in time order, in chunks.

    Each camera takes a picture every `INTERVAL_S` seconds at a phase of its
    own, so the history spans `total / n_cameras` intervals before `END`.
    """
    rng = np.random.default_rng(seed)
    per_camera = -(-total // n_cameras)
    span_us = per_camera * INTERVAL_S * 1_000_000
    start_us = int(END.timestamp()) * 1_000_000 - span_us
    phase = rng.integers(0, INTERVAL_S * 1_000_000, n_cameras)
    # Slot s holds one picture of every camera; walking slots keeps time order per chunk.
    emitted = 0
    slot = 0
    pending_cam = np.empty(0, dtype=np.int64)
    pending_at = np.empty(0, dtype=np.int64)
    while emitted < total:
        while len(pending_cam) < chunk and slot < per_camera:
            cams = np.arange(n_cameras, dtype=np.int64)
            at = start_us + slot * INTERVAL_S * 1_000_000 + phase
            order = np.argsort(at, kind="stable")
            pending_cam = np.concatenate([pending_cam, cams[order]])
            pending_at = np.concatenate([pending_at, at[order]])
            slot += 1
        take = min(chunk, total - emitted, len(pending_cam))
        yield SnapshotColumns(emitted + 1, pending_cam[:take], pending_at[:take])
        pending_cam, pending_at = pending_cam[take:], pending_at[take:]
        emitted += take


def snapshot_span(n_cameras: int, total: int) -> tuple[datetime, datetime]:
    """The first and last possible `captured_at` of `snapshot_columns(n_cameras, total)`."""
    per_camera = -(-total // n_cameras)
    return END - timedelta(seconds=per_camera * INTERVAL_S), END
