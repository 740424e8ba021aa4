"""`camgrid demo`: a simulated camera farm, a generated district config, and camgrid serving it.

The generated config is what five real departments would write: each in its
own coordinate system, with digest, basic or no auth, police cameras under
20-digit GB/T 28181 ids, and a grid of 288 cells over 80 communities. It is
written to `var/demo-config/` so it can be read and validated like any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from camgrid.runtime import ServeOptions, opened_catalog, serve, stop_on_signals, sync_catalog
from catalog.crs import from_wgs84
from catalog.principals import create_principal
from config import ConfigInvalid, load_config
from ingest.farm import CameraFarm, build_farm
from ingest.worker import WorkerSettings

log = logging.getLogger("camgrid.demo")

PASSWORD_ENV = "CAMGRID_DEMO_CAM_PASSWORD"
# The district's extent (WGS-84), cut into GRID_COLS x GRID_ROWS cells.
WEST, SOUTH, EAST, NORTH = 113.120, 27.760, 113.220, 27.860
GRID_COLS, GRID_ROWS = 18, 16  # 288 cells
COMMUNITIES = 80
STREETS = [
    "建设街道",
    "建宁街道",
    "贺家土街道",
    "庆云街道",
    "枫溪街道",
    "龙泉街道",
    "董家塅街道",
    "白关镇",
]
COMMUNITY_WORDS = [
    "红旗",
    "和平",
    "新华",
    "建设",
    "人民",
    "车站",
    "东升",
    "钟鼓岭",
    "向阳",
    "荷花",
    "芦淞",
    "桂花",
    "湘江",
    "枫溪",
    "龙泉",
    "明照",
    "五里墩",
    "董家塅",
    "白关",
    "姚家坝",
]
ROADS = [
    "建设路",
    "红旗路",
    "人民路",
    "车站路",
    "新华西路",
    "芦淞路",
    "庆云路",
    "枫溪大道",
    "董家塅大道",
    "桂花路",
    "建宁大道",
    "沿江北路",
    "服饰大道",
    "大湖路",
    "湘芸路",
    "湘江南路",
]
PLACES = [
    "交叉口",
    "公交站",
    "路段",
    "桥头",
    "广场",
    "入口",
    "停车场",
    "市场东门",
    "学校门口",
    "泵站",
]


@dataclass(frozen=True)
class DemoDepartment:
    """One department of the demo and how it records cameras."""

    id: str
    name: str
    crs: str
    share: float


DEPARTMENTS = [
    DemoDepartment("chengguan", "芦淞区城市管理和综合执法局", "gcj02", 0.30),
    DemoDepartment("police", "株洲市公安局芦淞分局", "gcj02", 0.25),
    DemoDepartment("residential", "芦淞区住房和城乡建设局（住宅小区）", "bd09", 0.20),
    DemoDepartment("education", "芦淞区教育局", "bd09", 0.15),
    DemoDepartment("water", "芦淞区水利局", "wgs84", 0.10),
]


def grid_geojson() -> dict[str, Any]:
    """288 rectangular cells over 80 communities in 8 streets."""
    width = (EAST - WEST) / GRID_COLS
    height = (NORTH - SOUTH) / GRID_ROWS
    names = [
        f"{COMMUNITY_WORDS[i % 20]}{'' if i < 20 else '东西南北'[i // 20 - 1]}社区"
        for i in range(COMMUNITIES)
    ]
    features = []
    for k in range(GRID_COLS * GRID_ROWS):
        row, col = divmod(k, GRID_COLS)
        community = k * COMMUNITIES // (GRID_COLS * GRID_ROWS)
        street = community * len(STREETS) // COMMUNITIES
        w, s = WEST + col * width, SOUTH + row * height
        ring = [[w, s], [w + width, s], [w + width, s + height], [w, s + height], [w, s]]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "grid_id": f"430203{street + 1:03d}{k + 1:03d}",
                    "name": f"{names[community]}第{k % 4 + 1}网格",
                    "community": names[community],
                    "street": STREETS[street],
                },
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[round(x, 7), round(y, 7)] for x, y in ring]],
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def camera_entry(
    department: DemoDepartment, n: int, farm: CameraFarm, index: int, rng: random.Random
) -> dict[str, Any]:
    """One camera of a department file, pointing at farm camera `index`."""
    farm_camera = farm.cameras[index]
    lon = rng.uniform(WEST + 0.0005, EAST - 0.0005)
    lat = rng.uniform(SOUTH + 0.0005, NORTH - 0.0005)
    x, y = from_wgs84(department.crs, lon, lat)
    camera_id = (
        f"43020300001320{n:06d}" if department.id == "police" else f"{department.id}-{n:05d}"
    )
    road, cross = rng.sample(ROADS, 2)
    place = rng.choice(PLACES)
    entry: dict[str, Any] = {
        "id": camera_id,
        "name": f"{road}与{cross}{place}" if place == "交叉口" else f"{road}{place}{n % 97 + 1}号",
        "address": f"芦淞区{road}{rng.randint(1, 400)}号",
        "location": {"lon": round(x, 7), "lat": round(y, 7)},
        "snapshot": {"kind": "http", "url": farm.url(index)},
        "tags": [place.replace("门口", "").replace("东门", "")],
    }
    if farm_camera.auth != "none":
        entry["auth"] = {
            "scheme": farm_camera.auth,
            "username": farm_camera.username,
            "password": f"${{{PASSWORD_ENV}}}",
        }
    return entry


def write_demo_config(root: Path, farm: CameraFarm, seed: int = 7) -> None:
    """Write departments/*.yaml and grids/district.geojson for the farm's cameras."""
    rng = random.Random(seed)
    (root / "departments").mkdir(parents=True, exist_ok=True)
    (root / "grids").mkdir(parents=True, exist_ok=True)
    for old in (root / "departments").glob("*.yaml"):
        old.unlink()
    (root / "grids" / "district.geojson").write_text(
        json.dumps(grid_geojson(), ensure_ascii=False), encoding="utf-8"
    )
    total = len(farm.cameras)
    start = 0
    for i, department in enumerate(DEPARTMENTS):
        count = total - start if i == len(DEPARTMENTS) - 1 else round(total * department.share)
        cameras = [camera_entry(department, n + 1, farm, start + n, rng) for n in range(count)]
        start += count
        document = {
            "department": {"id": department.id, "name": department.name},
            "defaults": {"crs": department.crs, "interval": "1m", "timeout": "10s"},
            "cameras": cameras,
        }
        (root / "departments" / f"{department.id}.yaml").write_text(
            yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )


async def run_demo(cameras: int, host: str, port: int, base_dir: Path) -> int:
    """Start the farm, write the config, serve; print url, token and console lines."""
    if cameras < 1:
        print("camgrid: --cameras must be at least 1", file=sys.stderr)
        return 2
    farm = build_farm(cameras, seed=7)
    os.environ[PASSWORD_ENV] = farm.password
    await farm.start("127.0.0.1", 0)
    try:
        root = base_dir / "var" / "demo-config"
        write_demo_config(root, farm)
        try:
            loaded = load_config(root)
        except ConfigInvalid as exc:  # a bug in the generator, not the user's doing
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            return 2
        stop = asyncio.Event()
        stop_on_signals(stop)
        async with opened_catalog(loaded, base_dir) as catalog:
            await sync_catalog(catalog, loaded)
            async with catalog.sessions() as session, session.begin():
                name = f"demo-operator-{os.getpid()}-{random.randrange(10**6)}"
                token = await create_principal(session, name=name, role="operator")
            ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            options = ServeOptions(
                host=host,
                port=port,
                worker=WorkerSettings(concurrency=96, per_host=96),
            )
            service = asyncio.create_task(serve(loaded, catalog, base_dir, options, stop, ready))
            waiters: set[asyncio.Future[Any]] = {service, ready}
            done, _ = await asyncio.wait(waiters, return_when="FIRST_COMPLETED")
            if service in done:
                await service  # raises what stopped it
                return 1
            url = ready.result()
            print(f"url: {url}", flush=True)
            print(f"token: {token}", flush=True)
            print(f"console: {url}#token={token}", flush=True)
            log.info("demo: %d cameras on a simulated farm; config in %s", cameras, root)
            await service
    finally:
        await farm.stop()
    return 0
