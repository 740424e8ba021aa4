"""The inventory rig the `test_inventory_*` modules share: two departments' sources and a runner.

住宅 keeps a GBK spreadsheet, 城管 a paginated JSON API served by aiohttp on
loopback; `build_sync_rig` syncs the config into the catalog and registers an
`InventoryRunner` over both lists.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from sqlalchemy import select, update

from catalog.db import Catalog
from catalog.grid import GridIndex
from catalog.models import Camera, CameraStatusEvent, Inventory, utcnow
from catalog.sync import sync_config
from config import DepartmentConfig, InventorySettings, LoadedConfig, load_config
from ingest.inventory import InventoryError, InventoryFetcher, InventoryResult, InventoryRow
from ingest.inventory.sync import InventoryRunner, InventoryRunnerSettings, open_fetchers

WEST, EAST = "430203001001", "430203001002"  # cells split at lon 113.15
CSV_HEADER = "编号,名称,经度,纬度,地址,抓图地址"


def cell(grid_id: str, west: float, east: float) -> dict[str, Any]:
    ring = [[west, 27.78], [east, 27.78], [east, 27.85], [west, 27.85], [west, 27.78]]
    names = {"grid_id": grid_id, "name": grid_id, "community": "建设社区", "street": "建设街道"}
    return {
        "type": "Feature",
        "properties": names,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def write_csv(root: Path, rows: list[str]) -> None:
    text = "\r\n".join([CSV_HEADER, *rows]) + "\r\n"
    (root / "departments" / "点位表.csv").write_bytes(text.encode("gbk"))


def api_camera(code: str, name: str, lon: float) -> dict[str, Any]:
    return {"indexCode": code, "cameraName": name, "pos": {"lon": lon, "lat": 27.80}}


@dataclass
class Platform:
    """城管's platform: a camera list served 2 a page."""

    cameras: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        number, size = int(request.query["page"]), int(request.query["rows"])
        page = self.cameras[(number - 1) * size : number * size]
        return web.json_response({"result": {"records": page}})


def write_config(root: Path, url: str) -> LoadedConfig:
    (root / "departments").mkdir(parents=True)
    (root / "grids").mkdir()
    cells = [cell(WEST, 113.10, 113.15), cell(EAST, 113.15, 113.20)]
    grid = {"type": "FeatureCollection", "features": cells}
    (root / "grids" / "cells.geojson").write_text(json.dumps(grid), encoding="utf-8")
    residential = {
        "department": {"id": "residential", "name": "住宅小区（物业）"},
        "inventories": [
            {
                "kind": "csv",
                "path": "点位表.csv",
                "every": "1h",
                "map": {
                    "id": "编号",
                    "name": "名称",
                    "lon": "经度",
                    "lat": "纬度",
                    "address": "地址",
                    "snapshot_url": "抓图地址",
                },
            }
        ],
    }
    chengguan = {
        "department": {"id": "chengguan", "name": "城市管理和综合执法局"},
        "inventories": [
            {
                "kind": "http_json",
                "url": url,
                "every": "30m",
                "items": "result.records",
                "pages": {"param": "page", "size_param": "rows", "size": 2},
                "map": {
                    "id": "indexCode",
                    "name": "cameraName",
                    "lon": "pos.lon",
                    "lat": "pos.lat",
                },
            }
        ],
    }
    for document in (residential, chengguan):
        name = document["department"]["id"]  # type: ignore[index]
        (root / "departments" / f"{name}.yaml").write_text(
            yaml.safe_dump(document, allow_unicode=True), encoding="utf-8"
        )
    write_csv(
        root,
        [
            "yf-1,远大小区南门,113.12,27.80,芦淞区建设南路,http://10.9.0.1/snap.jpg",
            "yf-2,太子花园西门,113.13,27.80,芦淞区枫溪街道,",
            "yf-3,龙泉雅苑车库入口,113.14,27.80,芦淞区龙泉街道,",
        ],
    )
    return load_config(root)


@dataclass
class Rig:
    """A synced catalog, the two departments' sources, and an inventory runner."""

    catalog: Catalog
    loaded: LoadedConfig
    root: Path
    platform: Platform
    runner: InventoryRunner
    fetchers: dict[str, InventoryFetcher]

    def department(self, department_id: str) -> DepartmentConfig:
        return next(d for d in self.loaded.departments if d.id == department_id)

    @property
    def grid(self) -> GridIndex:
        return GridIndex(self.loaded.grid_cells)

    async def make_due(self) -> None:
        async with self.catalog.sessions() as session, session.begin():
            await session.execute(update(Inventory).values(next_due_at=utcnow()))

    async def cameras(self) -> dict[str, Camera]:
        async with self.catalog.sessions() as session:
            return {c.uid: c for c in (await session.scalars(select(Camera))).all()}

    async def events(self, uid: str) -> list[tuple[str, str]]:
        async with self.catalog.sessions() as session:
            rows = await session.scalars(
                select(CameraStatusEvent)
                .where(CameraStatusEvent.camera_uid == uid)
                .order_by(CameraStatusEvent.id)
            )
            return [(e.status, e.reason) for e in rows]

    async def inventory(self, department_id: str) -> Inventory:
        async with self.catalog.sessions() as session:
            row = await session.scalar(
                select(Inventory).where(Inventory.department_id == department_id)
            )
            assert row is not None
            return row


async def build_sync_rig(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Rig]:
    """Serve 城管's platform, write and sync the config, register a runner over both lists."""
    platform = Platform(
        [api_camera(f"cg-{n}", f"城管{n}号探头", 113.11 + n * 0.01) for n in (1, 2, 3)]
    )
    app = web.Application()
    app.router.add_get("/api/cameras", platform.handle)
    server = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await server.setup()
    await web.TCPSite(server, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.addresses[0][1]}/api/cameras"
    loaded = write_config(tmp_path / "config", url)
    async with catalog.sessions() as session, session.begin():
        await sync_config(session, loaded.departments, loaded.grid_cells, utcnow())
    try:
        async with aiohttp.ClientSession() as http, open_fetchers(http) as fetchers:
            runner = InventoryRunner(
                catalog,
                loaded.departments,
                GridIndex(loaded.grid_cells),
                fetchers,
                InventoryRunnerSettings(owner="test-worker"),
            )
            await runner.register()
            yield Rig(catalog, loaded, tmp_path / "config", platform, runner, fetchers)
    finally:
        await server.cleanup()


async def run_all_due(rig: Rig) -> list[Any]:
    """Make every inventory due and run the runner once."""
    await rig.make_due()
    return await rig.runner.run_once()


class ListFetcher:
    """A fetcher whose rows the test sets; a string is raised as the fetch's failure."""

    def __init__(self, rows: list[InventoryRow] | str) -> None:
        self.rows = rows

    async def fetch(self, spec: InventorySettings, department: DepartmentConfig) -> InventoryResult:
        if isinstance(self.rows, str):
            raise InventoryError(self.rows)
        return InventoryResult(rows=list(self.rows))
