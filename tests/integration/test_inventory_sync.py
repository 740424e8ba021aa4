"""Inventory syncs end to end, on SQLite and PostgreSQL.

Two departments keep their own lists: 住宅 a GBK spreadsheet, 城管 a paginated
JSON API served by aiohttp (`tests.integration.inventory_rig`). Later syncs
rename, move, retire, add and revive as the sources change; a failed or empty
fetch retires nothing; rows the config refuses are problems; an operator's
override survives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from catalog.db import Catalog
from catalog.inventories import inventory_summaries, register_inventories
from catalog.models import Snapshot, utcnow
from catalog.sync import OverrideInvalid, camera_layers, clear_override, set_override
from ingest.inventory import InventoryRow
from ingest.inventory.sync import inventory_specs, sync_inventory
from tests.integration.inventory_rig import (
    EAST,
    WEST,
    ListFetcher,
    Rig,
    api_camera,
    build_sync_rig,
    run_all_due,
    write_csv,
)


@pytest.fixture
async def rig(catalog: Catalog, tmp_path: Path) -> AsyncIterator[Rig]:
    async for made in build_sync_rig(catalog, tmp_path):
        yield made


async def test_both_departments_come_in_and_a_later_sync_follows_the_sources(rig: Rig) -> None:
    outcomes = await rig.runner.run_once()
    assert sorted((o.department_id, o.count, o.error) for o in outcomes) == [
        ("chengguan", 3, None),
        ("residential", 3, None),
    ]
    cams = await rig.cameras()
    yf1 = cams["residential:yf-1"]
    assert (yf1.name, yf1.address, yf1.kind, yf1.source) == (
        "远大小区南门",
        "芦淞区建设南路",
        "http",
        "inventory:0",
    )
    assert (yf1.grid_id, yf1.status, cams["residential:yf-2"].kind) == (WEST, "unknown", "none")
    assert cams["chengguan:cg-2"].name == "城管2号探头"
    assert await rig.events("residential:yf-3") == [("unknown", "added")]
    async with rig.catalog.sessions() as session, session.begin():  # yf-3 has a picture
        session.add(
            Snapshot(
                camera_uid="residential:yf-3",
                captured_at=utcnow(),
                width=1,
                height=1,
                bytes=1,
                sha256="0" * 64,
                phash=0,
                object_key="img/yf-3.jpg",
                thumb_key="thumb/yf-3.jpg",
                brightness=0.5,
                sharpness=0.5,
                flags=[],
            )
        )

    assert await rig.runner.run_once() == []  # nothing is due an hour early
    write_csv(
        rig.root,
        [
            "yf-1,远大小区南大门,113.12,27.80,芦淞区建设南路,http://10.9.0.1/snap.jpg",  # renamed
            "yf-2,太子花园西门,113.16,27.80,芦淞区枫溪街道,",  # moved east
            "yf-4,新华村小区2栋,113.17,27.81,芦淞区建宁街道,",  # new; yf-3 is gone
        ],
    )
    rig.platform.cameras = [
        api_camera("cg-1", "城管1号探头（建设路）", 113.12),
        api_camera("cg-3", "城管3号探头", 113.14),
        api_camera("cg-4", "城管4号探头", 113.18),
        api_camera("cg-5", "城管5号探头", 113.19),
    ]
    await rig.make_due()
    by_department = {o.department_id: o for o in await rig.runner.run_once()}
    residential = by_department["residential"].report
    assert residential is not None
    assert (residential.added, residential.retired) == (["residential:yf-4"], ["residential:yf-3"])
    assert sorted(residential.updated) == ["residential:yf-1", "residential:yf-2"]
    chengguan = by_department["chengguan"].report
    assert chengguan is not None
    assert (sorted(chengguan.added), chengguan.retired) == (
        ["chengguan:cg-4", "chengguan:cg-5"],
        ["chengguan:cg-2"],
    )

    cams = await rig.cameras()
    assert cams["residential:yf-1"].name == "远大小区南大门"
    moved = cams["residential:yf-2"]
    assert (moved.lon, moved.grid_id) == (113.16, EAST)
    assert moved.reported is not None
    assert moved.reported["location"] == {"lon": 113.16, "lat": 27.80, "crs": "wgs84"}
    gone = cams["residential:yf-3"]
    assert (gone.status, gone.status_reason) == ("retired", "left inventory:0")
    assert cams["chengguan:cg-2"].status == "retired"
    assert cams["chengguan:cg-1"].name == "城管1号探头（建设路）"
    async with rig.catalog.sessions() as session:
        kept = await session.scalars(select(Snapshot).where(Snapshot.camera_uid == gone.uid))
        assert len(kept.all()) == 1
    assert (await rig.events("residential:yf-3"))[-1] == ("retired", "left inventory:0")
    assert (await rig.events("residential:yf-2"))[-1] == (
        "unknown",
        "updated from inventory:0: grid, location",
    )
    assert (await rig.events("residential:yf-1"))[-1] == (
        "unknown",
        "updated from inventory:0: name",
    )

    inventory = await rig.inventory("residential")
    assert (inventory.last_count, inventory.last_error, inventory.lease_owner) == (3, None, None)
    assert inventory.last_sync_at is not None
    assert inventory.next_due_at - inventory.last_sync_at == timedelta(hours=1)
    async with rig.catalog.sessions() as session:
        summaries = await inventory_summaries(session)
    assert summaries["chengguan"] == [
        {
            "kind": "http_json",
            "label": rig.department("chengguan").inventories[0].url,  # type: ignore[union-attr]
            "last_sync_at": (await rig.inventory("chengguan")).last_sync_at,
            "count": 4,
            "error": None,
        }
    ]


async def test_a_failed_or_empty_fetch_retires_nothing_and_records_why(rig: Rig) -> None:
    await rig.runner.run_once()
    residential = rig.department("residential")
    fetcher = rig.fetchers["csv"]
    (rig.root / "departments" / "点位表.csv").unlink()
    outcome = await sync_inventory(rig.catalog, residential, 0, fetcher, rig.grid)
    assert outcome.count is None
    assert outcome.error is not None
    assert outcome.error.startswith("点位表.csv: file not found")
    inventory = await rig.inventory("residential")
    assert (inventory.last_count, inventory.last_error) == (None, outcome.error)

    write_csv(rig.root, [])
    outcome = await sync_inventory(rig.catalog, residential, 0, fetcher, rig.grid)
    assert (outcome.count, outcome.error) == (0, "the list is empty; nothing retired")

    write_csv(rig.root, ["yf-1,远大小区南门,东经,27.80,,"])
    outcome = await sync_inventory(rig.catalog, residential, 0, fetcher, rig.grid)
    assert (outcome.count, outcome.error) == (
        0,
        "no usable camera; nothing retired: 1 row(s) rejected, first 点位表.csv:2 经度: "
        "'东经' is not a number",
    )
    rig.platform.cameras = []
    (outcome,) = [o for o in await run_all_due(rig) if o.department_id == "chengguan"]
    assert outcome.error == "the list is empty; nothing retired"

    cams = await rig.cameras()
    assert len(cams) == 6
    assert all(c.status == "unknown" for c in cams.values())


async def test_rows_the_config_refuses_are_problems_and_the_rest_syncs(rig: Rig) -> None:
    fetcher = ListFetcher([InventoryRow("yf-1", "东门"), InventoryRow("bad id", "西门")])
    outcome = await sync_inventory(rig.catalog, rig.department("residential"), 0, fetcher, rig.grid)
    assert outcome.count == 1
    assert [str(p) for p in outcome.problems] == [
        "点位表.csv id bad id: camera id 'bad id' should be 1 to 64 letters, digits, '_' or '-'"
    ]
    assert outcome.error == f"1 row(s) rejected, first {outcome.problems[0]}"
    fetcher.rows = "platform down"
    outcome = await sync_inventory(rig.catalog, rig.department("residential"), 0, fetcher, rig.grid)
    assert (outcome.count, outcome.error) == (None, "platform down")
    assert (await rig.cameras())["residential:yf-1"].status == "unknown"


async def test_an_override_survives_later_syncs_and_can_be_cleared(rig: Rig) -> None:
    await rig.runner.run_once()
    uid = "residential:yf-1"
    async with rig.catalog.sessions() as session, session.begin():
        row = await set_override(
            session,
            uid,
            {"name": "远大南门（值班室）", "location": {"lon": 113.17, "lat": 27.81}},
            utcnow(),
        )
        assert (row.name, row.lon, row.grid_id, row.grid_from_config) == (
            "远大南门（值班室）",
            113.17,
            EAST,
            False,
        )
        with pytest.raises(OverrideInvalid, match="grid: no grid cell 'nope'"):
            await set_override(session, uid, {"grid": "nope"}, utcnow())
        with pytest.raises(OverrideInvalid, match="address: cannot be overridden"):
            await set_override(session, uid, {"address": "x"}, utcnow())
    write_csv(
        rig.root,
        ["yf-1,远大小区南大门,113.125,27.80,芦淞区建设南路,", "yf-2,太子花园西门,113.13,27.80,,"],
    )
    await run_all_due(rig)
    row = (await rig.cameras())[uid]
    assert (row.name, row.lon, row.grid_id) == ("远大南门（值班室）", 113.17, EAST)
    assert row.address == "芦淞区建设南路"
    assert camera_layers(row) == {
        "source": {
            "name": "远大小区南大门",
            "address": "芦淞区建设南路",
            "location": {"lon": 113.125, "lat": 27.80, "crs": "wgs84"},
            "grid": WEST,
        },
        "override": {
            "name": "远大南门（值班室）",
            "location": {"lon": 113.17, "lat": 27.81, "crs": "wgs84"},
        },
    }
    async with rig.catalog.sessions() as session, session.begin():
        row = await set_override(session, uid, {"grid": WEST, "location": None}, utcnow())
        assert (row.lon, row.grid_id, row.grid_from_config) == (113.125, WEST, True)
        row = await clear_override(session, uid, utcnow())
        assert (row.name, row.lon, row.grid_id, row.override) == (
            "远大小区南大门",
            113.125,
            WEST,
            None,
        )
    reasons = [reason for _, reason in await rig.events(uid)]
    assert reasons[-3:] == [
        "updated from inventory:0: location, name, snapshot",
        "override: grid, location",
        "override cleared: grid, location, name",
    ]


async def test_a_retired_camera_that_comes_back_is_revived(rig: Rig) -> None:
    await rig.runner.run_once()
    rows = ["yf-1,远大小区南门,113.12,27.80,,", "yf-2,太子花园西门,113.13,27.80,,"]
    write_csv(rig.root, rows)
    await run_all_due(rig)
    assert (await rig.cameras())["residential:yf-3"].status == "retired"
    write_csv(rig.root, [*rows, "yf-3,龙泉雅苑车库入口,113.14,27.80,,"])
    await run_all_due(rig)
    back = (await rig.cameras())["residential:yf-3"]
    assert (back.status, back.status_reason) == ("unknown", "back in source")
    assert [s for s, _ in await rig.events(back.uid)] == ["unknown", "retired", "unknown"]


async def test_a_dropped_inventory_retires_its_cameras(rig: Rig) -> None:
    await rig.runner.run_once()
    specs = [s for s in inventory_specs(rig.loaded.departments) if s.department_id != "chengguan"]
    async with rig.catalog.sessions() as session, session.begin():
        report = await register_inventories(session, specs, utcnow())
    assert sorted(report.retired) == ["chengguan:cg-1", "chengguan:cg-2", "chengguan:cg-3"]
    async with rig.catalog.sessions() as session:
        assert list(await inventory_summaries(session)) == ["residential"]
