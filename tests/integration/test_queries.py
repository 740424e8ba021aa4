"""Camera queries on SQLite and PostgreSQL: filters, pages, distances, cursors, tokens.

The strongest check is `test_random_catalog_matches_brute_force`: a few
hundred random cameras, and for many random filter combinations the paged
answer must equal a plain-Python reading of the rules in DESIGN.md
(`tests.integration.brute_force`).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import pytest

from catalog.crs import from_wgs84, haversine_m
from catalog.db import Catalog
from catalog.queries import InvalidCursor
from catalog.queries.cameras import CRS_MARGIN_DEG, CameraFilter, get_camera, list_cameras, near_box
from catalog.queries.cursors import encode_cursor
from catalog.queries.snapshots import list_snapshots
from tests.integration.brute_force import brute_force, random_catalog, random_filter
from tests.integration.catalog_rows import (
    CENTER,
    add_all,
    all_pages,
    assert_pages_are,
    make_camera,
    make_department,
    small_catalog,
    uids,
)


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


# The brute-force comparison


async def test_random_catalog_matches_brute_force(catalog: Catalog) -> None:
    rng = random.Random(20240501)
    rows, cameras, cells = random_catalog(rng, 300)
    await add_all(catalog, rows)
    checked = 0
    for _ in range(120):
        f = random_filter(rng, cameras, cells)
        expected = brute_force(cameras, cells, f)
        limit = rng.choice([3, 10, 40, 1000])
        await assert_pages_are(catalog, f, expected, limit)
        checked += bool(expected)
    assert checked > 60  # most combinations found something: the test is not vacuous
