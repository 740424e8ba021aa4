"""Catalog queries on SQLite and PostgreSQL: filters, pages, distances, windows, counts, tokens.

The strongest check is `test_random_catalog_matches_brute_force`: a few
hundred random cameras, and for many random filter combinations the paged
answer must equal a plain-Python reading of the rules in DESIGN.md.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from catalog.crs import from_wgs84, haversine_m, to_wgs84
from catalog.db import Catalog
from catalog.models import CAMERA_STATUSES, Camera, Department, GridCell, Snapshot
from catalog.principals import (
    InvalidPrincipal,
    PrincipalExists,
    authenticate,
    create_principal,
    list_principals,
    revoke_principal,
)
from catalog.queries import InvalidCursor
from catalog.queries.audit import list_audit, record_access
from catalog.queries.cameras import (
    CRS_MARGIN_DEG,
    CameraFilter,
    CameraRow,
    get_camera,
    list_cameras,
    near_box,
)
from catalog.queries.cursors import encode_cursor
from catalog.queries.snapshots import (
    get_snapshot,
    latest_snapshot,
    latest_snapshots_for,
    list_snapshots,
)
from catalog.queries.stats import department_summaries, get_grid, grid_summaries, stats

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CENTER = (113.15, 27.83)  # Zhuzhou


def make_department(dept_id: str, name: str = "") -> Department:
    """A department row."""
    return Department(id=dept_id, name=name or dept_id, source_file="", updated_at=T0)


def make_cell(
    grid_id: str, community: str, box: tuple[float, float, float, float], name: str = ""
) -> GridCell:
    """A rectangular grid cell."""
    x0, y0, x1, y1 = box
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return GridCell(
        grid_id=grid_id,
        name=name or f"网格{grid_id}",
        community=community,
        street="建设街道",
        geometry={"type": "Polygon", "coordinates": [ring]},
        min_lon=x0,
        min_lat=y0,
        max_lon=x1,
        max_lat=y1,
    )


def make_camera(
    department: str,
    camera_id: str,
    *,
    name: str = "camera",
    address: str = "",
    lon: float | None = None,
    lat: float | None = None,
    grid_id: str | None = None,
    kind: str = "http",
    tags: Sequence[str] = (),
    status: str = "online",
) -> Camera:
    """A camera row with everything else at harmless defaults."""
    return Camera(
        uid=f"{department}:{camera_id}",
        department_id=department,
        camera_id=camera_id,
        name=name,
        address=address,
        lon=lon,
        lat=lat,
        orig_crs="wgs84",
        orig_lon=lon,
        orig_lat=lat,
        grid_id=grid_id,
        grid_from_config=False,
        kind=kind,
        snapshot_target="http://admin:secret@192.0.2.1/snap.jpg",
        tags=list(tags),
        gb28181=None,
        source="config",
        interval_s=300.0,
        timeout_s=10.0,
        status=status,
        status_reason="",
        status_since=T0,
        last_snapshot_at=None,
        last_seen_at=None,
        next_due_at=T0,
        created_at=T0,
        updated_at=T0,
    )


def make_snapshot(
    camera_uid: str, captured_at: datetime, n: int, flags: Sequence[str] = ()
) -> Snapshot:
    """A snapshot row; `n` makes its keys unique."""
    sha = f"{n:064x}"
    return Snapshot(
        camera_uid=camera_uid,
        captured_at=captured_at,
        width=640,
        height=360,
        bytes=1000 + n,
        sha256=sha,
        phash=n,
        object_key=f"img/test/{n}.jpg",
        thumb_key=f"thumb/test/{n}.jpg",
        brightness=0.5,
        sharpness=100.0,
        flags=list(flags),
    )


async def add_all(catalog: Catalog, rows: Iterable[Any]) -> None:
    """Insert rows in one transaction; parents must come before children in `rows`."""
    async with catalog.sessions() as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


async def all_pages(catalog: Catalog, f: CameraFilter, limit: int) -> list[CameraRow]:
    """Every item of every page, following the cursors."""
    found: list[CameraRow] = []
    cursor: str | None = None
    async with catalog.sessions() as session:
        for _ in range(10_000):
            page = await list_cameras(session, f, limit=limit, cursor=cursor)
            assert len(page.items) <= limit
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            assert len(page.items) == limit
            cursor = page.next_cursor
    raise AssertionError("paging did not end")


async def uids(catalog: Catalog, f: CameraFilter, limit: int = 1000) -> list[str]:
    """The uids the filter finds, in answer order, over all pages."""
    return [row.camera.uid for row in await all_pages(catalog, f, limit)]


# A small hand-made catalog for the exact rules.


def small_catalog() -> list[Any]:
    """Two departments, two cells in two communities, eight cameras."""
    return [
        make_department("chengguan", "城管局"),
        make_department("water", "水务局"),
        make_cell("G1", "东社区", (113.10, 27.80, 113.15, 27.85)),
        make_cell("G2", "西社区", (113.15, 27.80, 113.20, 27.85)),
        make_camera("chengguan", "a1", name="建设路与红旗路交叉口", address="芦淞区建设路",
                    lon=113.10, lat=27.80, grid_id="G1", tags=["crossroad"]),
        make_camera("chengguan", "a2", name="Hongqi Road EAST", address="红旗路 100%",
                    lon=113.12, lat=27.82, grid_id="G1", kind="rtsp", status="degraded"),
        make_camera("chengguan", "a3", name="under_score gate", address="a\\b path",
                    lon=113.16, lat=27.84, grid_id="G2", tags=["gate", "school"]),
        make_camera("water", "b1", name="水厂取水口", address="湘江",
                    lon=113.18, lat=27.85, grid_id="G2", status="offline"),
        make_camera("water", "b2", name="泵站 pump", address="", lon=None, lat=None,
                    tags=["pump"], status="unknown"),
        make_camera("water", "b3", name="旧泵站", address="已拆除",
                    lon=113.17, lat=27.83, grid_id="G2", status="retired"),
        make_camera("water", "B4", name="upper uid", address="",
                    lon=113.30, lat=27.90, kind="onvif"),
        make_camera("water", "b-5", name="dash uid", address="Percent%Sign",
                    lon=113.11, lat=27.81, grid_id="G1"),
    ]  # fmt: skip


async def test_no_filter_leaves_out_retired_and_orders_by_code_point(catalog: Catalog) -> None:
    await add_all(catalog, small_catalog())
    expected = sorted(
        ["chengguan:a1", "chengguan:a2", "chengguan:a3", "water:b1", "water:b2", "water:B4",
         "water:b-5"]
    )  # fmt: skip
    assert await uids(catalog, CameraFilter()) == expected
    assert "water:b3" in await uids(catalog, CameraFilter(statuses=("retired", "online")))
    assert await uids(catalog, CameraFilter(statuses=("retired",))) == ["water:b3"]


async def test_bbox_is_inclusive_and_skips_cameras_without_location(catalog: Catalog) -> None:
    await add_all(catalog, small_catalog())
    # a1 sits exactly on the box's lower-left corner, a2 inside, a3 exactly on its top edge.
    f = CameraFilter(bbox=(113.10, 27.80, 113.16, 27.84))
    assert await uids(catalog, f) == ["chengguan:a1", "chengguan:a2", "chengguan:a3", "water:b-5"]
    just_inside = CameraFilter(bbox=(113.1000001, 27.80, 113.16, 27.8399999))
    assert await uids(catalog, just_inside) == ["chengguan:a2", "water:b-5"]
    assert "water:b2" not in await uids(catalog, CameraFilter(bbox=(-180, -90, 180, 90)))
    assert "water:b2" in await uids(catalog, CameraFilter(tags=("pump",)))


async def test_comma_lists_mean_any_and_filters_mean_all(catalog: Catalog) -> None:
    await add_all(catalog, small_catalog())
    assert await uids(catalog, CameraFilter(departments=("water",))) == [
        "water:B4", "water:b-5", "water:b1", "water:b2"
    ]  # fmt: skip
    assert await uids(catalog, CameraFilter(kinds=("rtsp", "onvif"))) == [
        "chengguan:a2", "water:B4"
    ]  # fmt: skip
    assert await uids(catalog, CameraFilter(statuses=("degraded", "offline"))) == [
        "chengguan:a2", "water:b1"
    ]  # fmt: skip
    assert await uids(catalog, CameraFilter(grid_ids=("G2",))) == ["chengguan:a3", "water:b1"]
    assert await uids(catalog, CameraFilter(communities=("东社区",))) == [
        "chengguan:a1", "chengguan:a2", "water:b-5"
    ]  # fmt: skip
    assert await uids(catalog, CameraFilter(communities=("东社区", "西社区"))) == [
        "chengguan:a1", "chengguan:a2", "chengguan:a3", "water:b-5", "water:b1"
    ]  # fmt: skip
    assert await uids(catalog, CameraFilter(tags=("school", "crossroad"))) == [
        "chengguan:a1", "chengguan:a3"
    ]  # fmt: skip
    both = CameraFilter(departments=("chengguan",), communities=("西社区",), tags=("gate",))
    assert await uids(catalog, both) == ["chengguan:a3"]
    assert await uids(catalog, CameraFilter(departments=("water",), kinds=("rtsp",))) == []
    assert await uids(catalog, CameraFilter(grid_ids=("nope",))) == []


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("建", ["chengguan:a1"]),  # one Chinese character, in name and address
        ("泵站", ["water:b2"]),  # two characters; the retired 旧泵站 stays hidden
        ("湘江", ["water:b1"]),  # the address
        ("hongqi road east", ["chengguan:a2"]),  # Latin, any case
        ("PUMP", ["water:b2"]),
        ("100%", ["chengguan:a2"]),  # % is literal...
        ("%", ["chengguan:a2", "water:b-5"]),
        ("h%s", []),  # ...not a wildcard (Hongqi Road EAST would match one)
        ("_", ["chengguan:a3"]),  # _ is literal
        ("e_s", []),
        ("a\\b", ["chengguan:a3"]),  # so is the escape character
        ("\\", ["chengguan:a3"]),
        ("", ["chengguan:a1", "chengguan:a2", "chengguan:a3", "water:B4", "water:b-5",
              "water:b1", "water:b2"]),  # empty text: no text filter
    ],
)  # fmt: skip
async def test_q_is_a_literal_case_insensitive_substring(
    catalog: Catalog, q: str, expected: list[str]
) -> None:
    await add_all(catalog, small_catalog())
    assert await uids(catalog, CameraFilter(q=q)) == sorted(expected)


async def test_near_sorts_by_distance_then_uid_with_exact_distances(catalog: Catalog) -> None:
    lon0, lat0 = CENTER
    rows: list[Any] = [make_department("d")]
    # Two cameras at the same distance (east and west), so the tie goes by uid.
    rows.append(make_camera("d", "east", lon=lon0 + 0.01, lat=lat0))
    rows.append(make_camera("d", "west", lon=lon0 - 0.01, lat=lat0))
    rows.append(make_camera("d", "here", lon=lon0, lat=lat0))
    rows.append(make_camera("d", "north", lon=lon0, lat=lat0 + 0.005))
    rows.append(make_camera("d", "far", lon=lon0 + 0.2, lat=lat0))
    rows.append(make_camera("d", "nowhere"))
    await add_all(catalog, rows)
    east = haversine_m(lon0, lat0, lon0 + 0.01, lat0)
    west = haversine_m(lon0, lat0, lon0 - 0.01, lat0)
    assert east == pytest.approx(west)
    f = CameraFilter(near=(lon0, lat0), radius_m=max(east, west))
    found = await all_pages(catalog, f, limit=1)
    assert [r.camera.uid for r in found] == ["d:here", "d:north", "d:east", "d:west"]
    for row in found:
        assert row.camera.lon is not None
        assert row.camera.lat is not None
        assert row.distance_m == haversine_m(lon0, lat0, row.camera.lon, row.camera.lat)
    # The radius is inclusive: exactly the distance of `north` keeps it.
    north = haversine_m(lon0, lat0, lon0, lat0 + 0.005)
    assert await uids(catalog, replace(f, radius_m=north)) == ["d:here", "d:north"]
    assert await uids(catalog, replace(f, radius_m=north * (1 - 1e-9))) == ["d:here"]


async def test_near_in_gcj02_measures_from_the_converted_centre(catalog: Catalog) -> None:
    lon0, lat0 = CENTER
    await add_all(catalog, [make_department("d"), make_camera("d", "c", lon=lon0, lat=lat0)])
    glon, glat = from_wgs84("gcj02", lon0, lat0)
    found = await all_pages(catalog, CameraFilter(near=(glon, glat), radius_m=1.0, crs="gcj02"), 10)
    assert [r.camera.uid for r in found] == ["d:c"]
    assert found[0].distance_m is not None
    assert found[0].distance_m < 1e-3
    # The same numbers read as WGS-84 are hundreds of metres away.
    assert await uids(catalog, CameraFilter(near=(glon, glat), radius_m=100.0)) == []


@pytest.mark.parametrize("lat", [0.0, 27.83, 60.0, 80.0, 89.0, -89.5])
@pytest.mark.parametrize("radius_m", [1.0, 500.0, 20_000.0, 300_000.0, 5_000_000.0])
def test_near_box_holds_the_whole_circle(lat: float, radius_m: float) -> None:
    rng = random.Random(f"{lat}/{radius_m}")
    lon = 10.0
    x0, y0, x1, y1 = near_box(lon, lat, radius_m)
    delta = radius_m / 6_371_008.8
    for _ in range(2000):
        # A point at distance `radius_m` (on the circle) in a random direction.
        bearing = rng.uniform(0, 2 * math.pi)
        phi1, lmb1 = math.radians(lat), math.radians(lon)
        phi2 = math.asin(
            math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(bearing)
        )
        lmb2 = lmb1 + math.atan2(
            math.sin(bearing) * math.sin(delta) * math.cos(phi1),
            math.cos(delta) - math.sin(phi1) * math.sin(phi2),
        )
        plon = (math.degrees(lmb2) + 540.0) % 360.0 - 180.0
        plat = math.degrees(phi2)
        assert haversine_m(lon, lat, plon, plat) == pytest.approx(radius_m, rel=1e-6)
        assert x0 <= plon <= x1
        assert y0 <= plat <= y1
    # And it is not much larger than needed at moderate latitudes.
    if abs(lat) < 70 and radius_m < 100_000:
        assert (y1 - y0) == pytest.approx(2 * math.degrees(delta), rel=1e-3, abs=3e-7)


def test_the_crs_margin_covers_every_offset() -> None:
    rng = random.Random(7)
    points = [(rng.uniform(73, 136), rng.uniform(3, 54)) for _ in range(20_000)]
    points += [(rng.uniform(-180, 180), rng.uniform(-90, 90)) for _ in range(2_000)]
    for lon, lat in points:
        for crs in ("gcj02", "bd09"):
            x, y = from_wgs84(crs, lon, lat)
            # With room to spare: the prefilter box may never cut a camera off.
            assert abs(x - lon) < 0.75 * CRS_MARGIN_DEG
            assert abs(y - lat) < 0.75 * CRS_MARGIN_DEG


async def test_pages_hold_every_item_once_in_order(catalog: Catalog) -> None:
    rows: list[Any] = [make_department("d")]
    rng = random.Random(3)
    ids = [f"{rng.choice('aAbB-_09')}{i:03d}" for i in range(57)]
    for i, camera_id in enumerate(ids):
        tags = ["odd"] if i % 2 else []
        rows.append(make_camera("d", camera_id, lon=113 + i / 1000, lat=27.8, tags=tags))
    await add_all(catalog, rows)
    everyone = sorted(f"d:{i}" for i in ids)
    for limit in (1, 2, 7, 56, 57, 58, 1000):
        assert await uids(catalog, CameraFilter(), limit) == everyone
    odd = sorted(f"d:{c}" for i, c in enumerate(ids) if i % 2)
    for limit in (1, 5, 28, 29):
        assert await uids(catalog, CameraFilter(tags=("odd",)), limit) == odd
    near = CameraFilter(near=(113.0, 27.8), radius_m=100_000)
    assert len(await uids(catalog, near, 4)) == 57


async def test_bad_cursors_are_refused(catalog: Catalog) -> None:
    async with catalog.sessions() as session:
        for cursor in ("garbage!", "", "W10", encode_cursor("near", 1.0, "x")):
            with pytest.raises(InvalidCursor):
                await list_cameras(session, CameraFilter(), limit=5, cursor=cursor)
        with pytest.raises(InvalidCursor):
            await list_cameras(
                session,
                CameraFilter(near=CENTER, radius_m=5),
                limit=5,
                cursor=encode_cursor("uid", "x"),
            )
        with pytest.raises(InvalidCursor):
            await list_snapshots(session, limit=5, cursor=encode_cursor("snap", "x", 1))


def test_filter_rejects_inconsistent_input() -> None:
    with pytest.raises(ValueError, match="near and radius_m go together"):
        CameraFilter(near=CENTER)
    with pytest.raises(ValueError, match="unknown crs"):
        CameraFilter(crs="mars")
    with pytest.raises(ValueError, match="bbox minimum exceeds"):
        CameraFilter(bbox=(2, 0, 1, 1))


async def test_get_camera_has_its_cell_even_when_retired(catalog: Catalog) -> None:
    await add_all(catalog, small_catalog())
    async with catalog.sessions() as session:
        row = await get_camera(session, "water:b3")
        assert row is not None
        assert row.cell is not None
        assert (row.cell.grid_id, row.cell.community, row.cell.street) == (
            "G2",
            "西社区",
            "建设街道",
        )
        no_cell = await get_camera(session, "water:b2")
        assert no_cell is not None
        assert no_cell.cell is None
        assert await get_camera(session, "water:nope") is None


# Snapshots


async def snapshot_catalog(catalog: Catalog) -> list[Snapshot]:
    """The small catalog plus snapshots: a1 has 5 (two at the same time), b3 (retired) has 1."""
    snaps = [
        make_snapshot("chengguan:a1", T0, 1),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=1), 2),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=1), 3),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=2, microseconds=1), 4),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=3), 5),
        make_snapshot("water:b3", T0 + timedelta(minutes=1), 6),
        make_snapshot("chengguan:a3", T0 + timedelta(minutes=4), 7, flags=["dark"]),
    ]
    await add_all(catalog, [*small_catalog(), *snaps])
    return snaps


async def snapshot_ids(catalog: Catalog, limit: int = 1000, **kwargs: Any) -> list[int]:
    """Snapshot ids over all pages, in answer order."""
    found: list[int] = []
    cursor: str | None = None
    async with catalog.sessions() as session:
        while True:
            page = await list_snapshots(session, limit=limit, cursor=cursor, **kwargs)
            found.extend(s.id for s in page.items)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


async def test_snapshots_newest_first_with_ties_by_id(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    expected = [by_n[n] for n in (5, 4, 3, 2, 1)]
    for limit in (1, 2, 3, 10):
        assert await snapshot_ids(catalog, limit, camera_uid="chengguan:a1") == expected


async def test_since_is_inclusive_and_until_exclusive(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    one = T0 + timedelta(minutes=1)
    window = await snapshot_ids(
        catalog, 1, camera_uid="chengguan:a1", since=one, until=T0 + timedelta(minutes=3)
    )
    assert window == [by_n[4], by_n[3], by_n[2]]
    # The same instants in another offset mean the same window.
    tz8 = timezone(timedelta(hours=8))
    assert window == await snapshot_ids(
        catalog,
        camera_uid="chengguan:a1",
        since=one.astimezone(tz8),
        until=(T0 + timedelta(minutes=3)).astimezone(tz8),
    )
    later = await snapshot_ids(catalog, camera_uid="chengguan:a1", since=one + timedelta(minutes=1))
    assert later == [by_n[5], by_n[4]]  # 4 is a microsecond after since
    assert await snapshot_ids(catalog, camera_uid="chengguan:a1", until=T0) == []
    assert await snapshot_ids(catalog, camera_uid="chengguan:a1", until=one) == [by_n[1]]


async def test_snapshots_by_area_include_retired_cameras_when_asked(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    every = tuple(CAMERA_STATUSES)
    g2 = CameraFilter(grid_ids=("G2",), statuses=every)
    assert await snapshot_ids(catalog, area=g2) == [by_n[7], by_n[6]]
    assert await snapshot_ids(catalog, area=CameraFilter(grid_ids=("G2",))) == [by_n[7]]
    box = CameraFilter(bbox=(113.09, 27.79, 113.11, 27.81), statuses=every)
    assert await snapshot_ids(catalog, area=box) == [by_n[n] for n in (5, 4, 3, 2, 1)]
    near = CameraFilter(near=(113.17, 27.83), radius_m=10.0, statuses=every)
    assert await snapshot_ids(catalog, area=near) == [by_n[6]]
    window = await snapshot_ids(
        catalog, area=g2, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=4)
    )
    assert window == [by_n[6]]
    nowhere = CameraFilter(near=(0.0, 0.0), radius_m=10.0, statuses=every)
    assert await snapshot_ids(catalog, area=nowhere) == []


async def test_latest_snapshots(catalog: Catalog) -> None:
    snaps = await snapshot_catalog(catalog)
    by_n = {s.phash: s.id for s in snaps}
    async with catalog.sessions() as session:
        latest = await latest_snapshots_for(
            session, ["chengguan:a1", "chengguan:a2", "chengguan:a3", "water:b3"]
        )
        assert {uid: s.id for uid, s in latest.items()} == {
            "chengguan:a1": by_n[5],
            "chengguan:a3": by_n[7],
            "water:b3": by_n[6],
        }
        assert await latest_snapshots_for(session, []) == {}
        one = await latest_snapshot(session, "chengguan:a3")
        assert one is not None
        assert one.flags == ["dark"]
        assert await latest_snapshot(session, "chengguan:a2") is None
        got = await get_snapshot(session, by_n[2])
        assert got is not None
        assert got.captured_at == T0 + timedelta(minutes=1)
        assert await get_snapshot(session, 10**9) is None


# Counts


async def test_stats_departments_and_grids(catalog: Catalog) -> None:
    await snapshot_catalog(catalog)
    async with catalog.sessions() as session:
        answer = await stats(session, T0 + timedelta(minutes=4))
        grids = await grid_summaries(session)
        departments = await department_summaries(session)
        g2 = await get_grid(session, "G2")
        assert await get_grid(session, "nope") is None
    assert answer["cameras"] == {
        "total": 7, "online": 4, "degraded": 1, "offline": 1, "unknown": 1, "retired": 1
    }  # fmt: skip
    assert answer["snapshots"] == {"total": 7, "last_minute": 2}
    assert [d["id"] for d in answer["departments"]] == ["chengguan", "water"]
    assert answer["departments"][1]["cameras"]["retired"] == 1
    assert answer["departments"][1]["cameras"]["total"] == 4
    assert departments[0] == {
        "id": "chengguan",
        "name": "城管局",
        "cameras": {"total": 3, "online": 2, "degraded": 1, "offline": 0, "unknown": 0,
                    "retired": 0},
        "inventories": [],
    }  # fmt: skip
    assert grids["type"] == "FeatureCollection"
    assert [f["id"] for f in grids["features"]] == ["G1", "G2"]
    assert grids["features"][1] == g2
    assert g2 is not None
    assert g2["properties"]["cameras"] == {
        "total": 2, "online": 1, "degraded": 0, "offline": 1, "unknown": 0, "retired": 1
    }  # fmt: skip
    assert g2["properties"]["community"] == "西社区"
    assert g2["geometry"]["type"] == "Polygon"


# Audit


async def test_audit_rows_filter_and_page(catalog: Catalog) -> None:
    await snapshot_catalog(catalog)
    async with catalog.sessions() as session, session.begin():
        for i in range(5):
            await record_access(
                session,
                principal="alice" if i % 2 == 0 else "bob",
                role="operator",
                action="view_image",
                camera_uid="chengguan:a1" if i < 3 else "water:b1",
                snapshot_id=i,
                client="127.0.0.1",
                at=T0 + timedelta(seconds=i // 2),  # ties on `at`, broken by id
            )
    async with catalog.sessions() as session:
        seen: list[int | None] = []
        cursor = None
        while True:
            page = await list_audit(session, limit=2, cursor=cursor)
            seen.extend(e.snapshot_id for e in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [4, 3, 2, 1, 0]
        alice = await list_audit(session, principal="alice", limit=10)
        assert [e.snapshot_id for e in alice.items] == [4, 2, 0]
        camera = await list_audit(session, camera_uid="water:b1", limit=10)
        assert [e.snapshot_id for e in camera.items] == [4, 3]
        window = await list_audit(
            session, since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=2), limit=10
        )
        assert [e.snapshot_id for e in window.items] == [3, 2]


# Principals


async def test_principals_lifecycle(catalog: Catalog) -> None:
    await add_all(catalog, [make_department("water")])
    async with catalog.sessions() as session, session.begin():
        token = await create_principal(session, name="ops", role="operator")
        dept = await create_principal(
            session, name="water-desk", role="department", department_id="water"
        )
        old = await create_principal(session, name="old", role="admin", expires_at=T0)
    assert token.startswith("cg_")
    assert len(token) > 40
    async with catalog.sessions() as session:
        stored = await list_principals(session)
    assert [p.name for p in stored] == ["old", "ops", "water-desk"]
    assert all(token not in (p.token_hash, p.name) for p in stored)
    assert all(len(p.token_hash) == 64 for p in stored)
    async with catalog.sessions() as session, session.begin():
        ops = await authenticate(session, token)
        assert ops is not None
        assert (ops.name, ops.role, ops.department_id) == ("ops", "operator", None)
        desk = await authenticate(session, dept)
        assert desk is not None
        assert desk.department_id == "water"
        assert await authenticate(session, old) is None  # expired
        assert await authenticate(session, old, now=T0 - timedelta(seconds=1)) is not None
        assert await authenticate(session, token + "x") is None
        assert await authenticate(session, "not-a-token") is None
        assert await revoke_principal(session, "ops") is True
        assert await revoke_principal(session, "ops") is False
        assert await revoke_principal(session, "nobody") is False
        assert await authenticate(session, token) is None
    async with catalog.sessions() as session:
        with pytest.raises(PrincipalExists, match="'ops' already exists"):
            await create_principal(session, name="ops", role="operator")
        with pytest.raises(InvalidPrincipal, match="unknown role 'root'"):
            await create_principal(session, name="x", role="root")
        with pytest.raises(InvalidPrincipal, match="needs a department id"):
            await create_principal(session, name="x", role="department")
        with pytest.raises(InvalidPrincipal, match="only the department role"):
            await create_principal(session, name="x", role="admin", department_id="water")
        with pytest.raises(InvalidPrincipal, match="timezone-aware"):
            await create_principal(session, name="x", role="admin", expires_at=datetime(2030, 1, 1))


# The brute-force comparison


_WORDS = ["建设路", "红旗", "泵站", "学校", "Gate", "north", "Road", "100%", "a_b", "x\\y", "湘江"]
_TAGS = ["crossroad", "school", "gate", "pump", "river"]
_KINDS = ["http", "rtsp", "onvif", "file"]


def random_catalog(rng: random.Random, n: int) -> tuple[list[Any], list[Camera], list[GridCell]]:
    """Departments, a 3x2 grid over 3 communities, and `n` random cameras."""
    departments = [make_department(d) for d in ("chengguan", "water", "edu")]
    cells: list[GridCell] = []
    for i in range(3):
        for j in range(2):
            x0, y0 = 113.10 + i * 0.03, 27.80 + j * 0.04
            cells.append(
                make_cell(f"G{i}{j}", f"社区{(i + j) % 3}", (x0, y0, x0 + 0.03, y0 + 0.04))
            )
    cameras: list[Camera] = []
    for k in range(n):
        lon: float | None = round(rng.uniform(113.08, 113.22), rng.choice([3, 4, 6]))
        lat: float | None = round(rng.uniform(27.78, 27.90), rng.choice([3, 4, 6]))
        if rng.random() < 0.05:
            lon = lat = None
        grid = None
        if lon is not None and lat is not None:
            inside = [
                c.grid_id
                for c in cells
                if c.min_lon <= lon < c.max_lon and c.min_lat <= lat < c.max_lat
            ]
            grid = inside[0] if inside else None
        name = "".join(rng.sample(_WORDS, rng.randint(1, 3)))
        if rng.random() < 0.3:
            name = name.upper() if rng.random() < 0.5 else name.lower()
        cameras.append(
            make_camera(
                rng.choice(departments).id,
                f"{rng.choice(['A', 'a', 'b', 'B', '0', '-', '_'])}{k:04d}",
                name=name,
                address=rng.choice(["", "芦淞区", "Hetang District", "天元区 5%"]),
                lon=lon,
                lat=lat,
                grid_id=grid,
                kind=rng.choice(_KINDS),
                tags=rng.sample(_TAGS, rng.randint(0, 2)),
                status=rng.choice(CAMERA_STATUSES),
            )
        )
    return [*departments, *cells, *cameras], cameras, cells


def _attributes_match(c: Camera, f: CameraFilter, community_cells: set[str]) -> bool:
    """Every non-spatial filter, read plainly."""
    if f.statuses and c.status not in f.statuses:
        return False
    if not f.statuses and c.status == "retired":
        return False
    checks = [
        (f.departments, c.department_id),
        (f.kinds, c.kind),
        (f.grid_ids, c.grid_id),
    ]
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    if f.communities and c.grid_id not in community_cells:
        return False
    if f.tags and not set(f.tags) & set(c.tags):
        return False
    q = (f.q or "").lower()
    return q in c.name.lower() or q in c.address.lower()


def brute_force(
    cameras: Sequence[Camera], cells: Sequence[GridCell], f: CameraFilter
) -> list[tuple[str, float | None]]:
    """The rules of DESIGN.md read plainly: (uid, distance) in answer order."""
    community_cells = {c.grid_id for c in cells if c.community in f.communities}
    center = to_wgs84(f.crs, *f.near) if f.near is not None else None
    found: list[tuple[str, float | None]] = []
    for c in cameras:
        if not _attributes_match(c, f, community_cells):
            continue
        distance = None
        if f.bbox is not None or center is not None:
            if c.lon is None or c.lat is None:
                continue
            x, y = from_wgs84(f.crs, c.lon, c.lat)
            if f.bbox is not None and not (
                f.bbox[0] <= x <= f.bbox[2] and f.bbox[1] <= y <= f.bbox[3]
            ):
                continue
            if center is not None:
                distance = haversine_m(center[0], center[1], c.lon, c.lat)
                if distance > (f.radius_m or 0.0):
                    continue
        found.append((c.uid, distance))
    if center is not None:
        return sorted(found, key=lambda item: (item[1] or 0.0, item[0]))
    return sorted(found)


def random_filter(
    rng: random.Random, cameras: Sequence[Camera], cells: Sequence[GridCell]
) -> CameraFilter:
    """One to three random filters, with edges often placed exactly on a camera."""
    located = [c for c in cameras if c.lon is not None and c.lat is not None]
    crs = rng.choice(["wgs84", "wgs84", "gcj02", "bd09"])
    kwargs: dict[str, Any] = {"crs": crs}
    for what in rng.sample(["bbox", "near", "grid", "community", "department", "status",
                            "kind", "tag", "q"], rng.randint(1, 3)):  # fmt: skip
        if what in ("bbox", "near"):
            a, b = rng.sample(located, 2)
            assert a.lon is not None
            assert a.lat is not None
            assert b.lon is not None
            assert b.lat is not None
            ax, ay = from_wgs84(crs, a.lon, a.lat)
            bx, by = from_wgs84(crs, b.lon, b.lat)
            if what == "bbox":
                kwargs["bbox"] = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
            else:
                kwargs["near"] = (ax, ay)
                # Often exactly the distance to another camera, to test the inclusive edge.
                exact = haversine_m(*to_wgs84(crs, ax, ay), b.lon, b.lat)
                kwargs["radius_m"] = exact if rng.random() < 0.5 else rng.uniform(50, 6000)
        elif what == "grid":
            kwargs["grid_ids"] = tuple(rng.sample([c.grid_id for c in cells], rng.randint(1, 3)))
        elif what == "community":
            kwargs["communities"] = tuple(
                rng.sample(["社区0", "社区1", "社区2"], rng.randint(1, 2))
            )
        elif what == "department":
            kwargs["departments"] = tuple(
                rng.sample(["chengguan", "water", "edu"], rng.randint(1, 2))
            )
        elif what == "status":
            kwargs["statuses"] = tuple(rng.sample(CAMERA_STATUSES, rng.randint(1, 3)))
        elif what == "kind":
            kwargs["kinds"] = tuple(rng.sample(_KINDS, rng.randint(1, 2)))
        elif what == "tag":
            kwargs["tags"] = tuple(rng.sample(_TAGS, rng.randint(1, 2)))
        else:
            source = rng.choice(cameras)
            text = rng.choice([source.name, source.address or source.name])
            start = rng.randrange(len(text))
            q = text[start : start + rng.randint(1, 3)]
            kwargs["q"] = q.swapcase() if rng.random() < 0.3 else q
    return CameraFilter(**kwargs)


async def test_random_catalog_matches_brute_force(catalog: Catalog) -> None:
    rng = random.Random(20240501)
    rows, cameras, cells = random_catalog(rng, 300)
    await add_all(catalog, rows)
    checked = 0
    for _ in range(120):
        f = random_filter(rng, cameras, cells)
        expected = brute_force(cameras, cells, f)
        limit = rng.choice([3, 10, 40, 1000])
        found = await all_pages(catalog, f, limit)
        assert [r.camera.uid for r in found] == [uid for uid, _ in expected], f
        for row, (_, distance) in zip(found, expected, strict=True):
            assert row.distance_m == distance
        checked += bool(expected)
    assert checked > 60  # most combinations found something: the test is not vacuous
