"""Search at scale stays exact: every plan the search may choose gives the plain answer.

`catalog.queries` chooses where a search starts (an index's candidates, a
walk in uid order, rings around a point, time slices of a few cameras, a
newest-first scan of many) from counts and caps. These tests shrink the caps
so that random catalogs take every path, and compare each answer with a
plain reading of the rules, on SQLite and PostgreSQL; they also check the
snapshot tally and that every search trigger exists at head. Text search and
the side tables' triggers have `test_text_search`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text

from catalog.crs import from_wgs84, out_of_china, to_wgs84
from catalog.db import Catalog, open_catalog
from catalog.models import CAMERA_STATUSES, Camera, GridCell, Snapshot
from catalog.queries import reader, snapshots
from catalog.queries.camera_filters import (
    CRS_SLACK_DEG,
    CRS_SLOPE,
    CameraFilter,
    wgs84_prefilter,
)
from catalog.queries.camera_rows import rendered_shape
from catalog.queries.cameras import find_cameras
from catalog.queries.snapshots import list_snapshots
from catalog.queries.stats import stats
from tests.integration.brute_force import brute_force, random_catalog, random_filter
from tests.integration.catalog_rows import (
    T0,
    add_all,
    assert_pages_are,
    random_snapshots,
)


async def test_every_plan_matches_brute_force(
    catalog: Catalog, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a session (ORM rows), and on SQLite also as the API reads: its
    list shape on a connection that runs each statement's SQL on sqlite3 itself
    (on PostgreSQL that shape reads through SQLAlchemy as a session does).
    Asked again, every statement of such a search runs on sqlite3."""
    rng = random.Random(f"plans/{plan}")
    rows, cameras, cells = random_catalog(rng, 300)
    await add_all(catalog, rows)
    api = open_catalog(catalog.engine.url.render_as_string(hide_password=False),
                       sqlite_inline_reads=True)  # fmt: skip
    straight: list[str] = []
    values = reader._Plan.values

    def counted(self: Any, given: Any) -> list[Any]:
        straight.append(self.sql)
        return values(self, given)

    monkeypatch.setattr(reader._Plan, "values", counted)
    checked = 0
    try:
        for _ in range(100):
            f = random_filter(rng, cameras, cells)
            expected = brute_force(cameras, cells, f)
            limit = rng.choice([2, 7, 40, 1000])
            await assert_pages_are(catalog, f, expected, limit)
            if catalog.dialect == "sqlite":
                as_api = [(r.uid, r.distance_m) for r in await rendered_pages(api, f, limit)]
                assert as_api == [(uid, d if f.near else None) for uid, d in expected], f
                ran = len(straight)
                assert await rendered_pages(api, f, limit, straight=True) == await rendered_pages(
                    api, f, limit
                )
                assert len(straight) > ran
            checked += bool(expected)
    finally:
        await api.close()
    assert checked > 45
    assert bool(straight) == (catalog.dialect == "sqlite")


async def rendered_pages(
    catalog: Catalog, f: CameraFilter, limit: int, *, straight: bool = False
) -> list[Any]:
    """Every item of every page in the API's list shape, read through one connection.

    With `straight`, each statement must run on sqlite3 itself (`reader.fetch_all`).
    """
    shape = rendered_shape(catalog.engine.dialect)
    found: list[Any] = []
    cursor: str | None = None
    async with catalog.engine.connect() as conn:
        if straight:
            await conn.run_sync(lambda sync: event.listen(sync, "before_execute", _not_here))
        while True:
            page = await find_cameras(conn, f, shape, limit=limit, cursor=cursor)
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


def _not_here(_conn: Any, statement: Any, *_args: Any) -> None:
    # Only `catalog_size` may go through SQLAlchemy: it is no search statement.
    assert "max(rowid)" in str(statement), f"SQLAlchemy ran {statement}"


# Snapshots by area and time, through every plan.

SNAPSHOT_PLANS: dict[str, dict[str, float]] = {
    "cameras": {},  # few cameras: index ranges per camera, in time slices
    "slices": {"interval": 0.5},  # tiny first slices: many slices, growing
    "time": {"area_cap": 0},  # as if every area were large: newest-first scan
}


def area_filter(rng: random.Random, cameras: Sequence[Camera], cells: Sequence[GridCell]) -> Any:
    """An area as /snapshots takes it (every status), or now and then any camera filter."""
    f = random_filter(rng, cameras, cells)
    if rng.random() < 0.7:
        kwargs = {k: getattr(f, k) for k in ("bbox", "near", "radius_m", "grid_ids", "crs")}
        f = CameraFilter(**kwargs, statuses=tuple(CAMERA_STATUSES))
    return f


def snapshot_brute_force(
    snaps: Sequence[Snapshot],
    members: set[str] | None,
    camera_uid: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[int]:
    """Snapshot ids newest first, read plainly."""
    kept = [
        s
        for s in snaps
        if (members is None or s.camera_uid in members)
        and (camera_uid is None or s.camera_uid == camera_uid)
        and (since is None or s.captured_at >= since)
        and (until is None or s.captured_at < until)
    ]
    kept.sort(key=lambda s: (s.captured_at, s.id), reverse=True)
    return [s.id for s in kept]


async def snapshot_pages(catalog: Catalog, limit: int, **kwargs: Any) -> list[int]:
    """Snapshot ids over all pages."""
    found: list[int] = []
    cursor: str | None = None
    async with catalog.sessions() as session:
        for _ in range(10_000):
            page = await list_snapshots(session, limit=limit, cursor=cursor, **kwargs)
            assert len(page.items) <= limit
            found.extend(s.id for s in page.items)
            if page.next_cursor is None:
                return found
            assert len(page.items) == limit
            cursor = page.next_cursor
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("snapshot_plan", sorted(SNAPSHOT_PLANS))
async def test_snapshot_searches_match_brute_force(
    catalog: Catalog, snapshot_plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SNAPSHOT_PLANS[snapshot_plan]
    if "interval" in settings:
        monkeypatch.setattr(snapshots, "_INTERVAL_S", settings["interval"])
    if "area_cap" in settings:
        monkeypatch.setattr(snapshots, "AREA_CAP", settings["area_cap"])
    rng = random.Random(f"snapshots/{snapshot_plan}")
    rows, cameras, cells = random_catalog(rng, 120)
    snaps = random_snapshots(rng, cameras)
    await add_all(catalog, [*rows, *snaps])
    checked = 0
    for _ in range(40):
        area = area_filter(rng, cameras, cells) if rng.random() < 0.85 else None
        members = None if area is None else {uid for uid, _ in brute_force(cameras, cells, area)}
        one = rng.choice(cameras).uid if rng.random() < 0.15 else None
        since = T0 + timedelta(minutes=rng.randrange(600)) if rng.random() < 0.5 else None
        until = T0 + timedelta(minutes=rng.randrange(600)) if rng.random() < 0.5 else None
        if since is not None and until is not None and until < since:
            since, until = until, since
        expected = snapshot_brute_force(snaps, members, one, since, until)
        limit = rng.choice([2, 7, 50, 1000])
        found = await snapshot_pages(
            catalog, limit, area=area, camera_uid=one, since=since, until=until
        )
        assert found == expected, (area, one, since, until, limit)
        checked += bool(expected)
    assert checked > 15


# A bbox in another CRS is prefiltered by a box of its own size.


def test_crs_offsets_change_slowly() -> None:
    """The bound `wgs84_prefilter` relies on, with room to spare (measured slopes < 0.025)."""
    rng = random.Random(11)
    for crs in ("gcj02", "bd09"):
        worst = 0.0
        for _ in range(40_000):
            x, y = rng.uniform(74.0, 134.5), rng.uniform(4.5, 53.0)
            if rng.random() < 0.1:
                x = 105.0 + rng.uniform(-1e-3, 1e-3)  # the square-root term of GCJ-02
            step = 10 ** rng.uniform(-7, -0.5)
            x2, y2 = x + rng.uniform(-step, step), y + rng.uniform(-step, step)
            if out_of_china(x2, y2):
                continue
            ax, ay = from_wgs84(crs, x, y)
            bx, by = from_wgs84(crs, x2, y2)
            change = max(abs((ax - x) - (bx - x2)), abs((ay - y) - (by - y2)))
            distance = max(abs(x - x2), abs(y - y2))
            worst = max(worst, (change - CRS_SLACK_DEG / 10) / distance)
        assert worst < CRS_SLOPE / 2, crs


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_the_crs_prefilter_holds_every_point_of_the_box(crs: str) -> None:
    rng = random.Random(crs)
    for _ in range(400):
        size = 10 ** rng.uniform(-4, 0)
        x0, y0 = rng.uniform(73.0, 135.0), rng.uniform(3.5, 53.5)
        box = (x0, y0, x0 + size * rng.random(), y0 + size * rng.random())
        px0, py0, px1, py1 = wgs84_prefilter(crs, box)
        corners = [(x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
        inside = [(rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])) for _ in range(40)]
        for x, y in corners + inside:
            # The WGS-84 point that shows at (x, y): the prefilter must hold it.
            lon, lat = to_wgs84(crs, x, y)
            sx, sy = from_wgs84(crs, lon, lat)
            if box[0] <= sx <= box[2] and box[1] <= sy <= box[3]:
                assert px0 <= lon <= px1, (box, lon, lat)
                assert py0 <= lat <= py1, (box, lon, lat)
        if not out_of_china(box[0] - 0.03, box[1] - 0.03) and not out_of_china(
            box[2] + 0.03, box[3] + 0.03
        ):
            # Inside the region the box stays about its own size, not the global margin.
            assert (px1 - px0) - (box[2] - box[0]) < 2 * CRS_SLOPE * size + 1e-4


async def test_the_snapshot_tally_follows_inserts_and_deletes(catalog: Catalog) -> None:
    rng = random.Random(3)
    rows, cameras, _ = random_catalog(rng, 20)
    snaps = random_snapshots(rng, cameras)
    await add_all(catalog, [*rows, *snaps])
    async with catalog.sessions() as session, session.begin():
        await session.execute(delete(Snapshot).where(Snapshot.id.in_([s.id for s in snaps[::3]])))
    async with catalog.sessions() as session:
        answer = await stats(session, T0)
        counted = await session.scalar(select(func.count()).select_from(Snapshot))
    assert answer["snapshots"]["total"] == counted == len(snaps) - len(snaps[::3])


SQLITE_TRIGGERS = {
    "camera_text_ai", "camera_text_ad", "camera_text_au", "camera_text_bigrams_ai",
    "camera_text_bigrams_ad", "camera_text_bigrams_au", "cameras_search_ai",
    "cameras_search_tags_au", "cameras_search_text_au", "cameras_search_ad",
    "cameras_listed_ai", "cameras_listed_au", "snapshots_tally_ai", "snapshots_tally_ad",
}  # fmt: skip
PG_TRIGGERS = {
    "cameras_search_tags", "snapshots_tally_insert", "snapshots_tally_delete",
    "snapshots_tally_truncate",
}  # fmt: skip


async def test_the_search_triggers_exist_at_head(catalog: Catalog) -> None:
    """A later migration that rebuilds `cameras` or `snapshots` must recreate them."""
    async with catalog.sessions() as session:
        if catalog.dialect == "sqlite":
            found = await session.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            )
            assert set(found) >= SQLITE_TRIGGERS
        else:
            found = await session.scalars(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            )
            assert set(found) >= PG_TRIGGERS
