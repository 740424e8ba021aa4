"""The camera routes over a real socket, on SQLite and PostgreSQL: shapes, filters, order, pages.

One app per engine serves the whole module (`env`, from `tests.integration.api_env`).
"""

from __future__ import annotations

import pytest

from catalog.crs import from_wgs84, haversine_m
from tests.integration.api_env import CAMERA_KEYS, Env, call, ok, problem

# Cameras


async def test_camera_list_shape_and_order(env: Env) -> None:
    answer = await ok(env, "/api/v1/cameras")
    assert set(answer) == {"items", "next_cursor"}
    assert answer["next_cursor"] is None
    uids = [c["uid"] for c in answer["items"]]
    assert uids == sorted(uids)
    assert "water:b3" not in uids  # retired
    for camera in answer["items"]:
        assert set(camera) == CAMERA_KEYS
    a1 = answer["items"][0]
    assert a1 == {
        "uid": "chengguan:a1",
        "department": "chengguan",
        "id": "a1",
        "name": "建设路与红旗路交叉口",
        "address": "芦淞区建设路",
        "location": {"lon": 113.10, "lat": 27.80},
        "grid_id": "G1",
        "community": "东社区",
        "kind": "http",
        "tags": ["crossroad"],
        "status": "online",
        "status_reason": "",
        "status_since": "2024-05-01T08:00:00Z",
        "last_snapshot_at": None,
        "gb28181": None,
    }
    text = await (await call(env, "/api/v1/cameras?status=online,retired")).text()
    assert "secret" not in text
    assert "192.0.2.1" not in text


async def test_camera_filters_through_the_api(env: Env) -> None:
    async def uids(query: str) -> list[str]:
        return [c["uid"] for c in (await ok(env, f"/api/v1/cameras?{query}"))["items"]]

    assert await uids("status=retired") == ["water:b3"]
    assert await uids("bbox=113.10,27.80,113.16,27.84") == [
        "chengguan:a1", "chengguan:a2", "chengguan:a3", "water:b-5"
    ]  # fmt: skip
    assert await uids("q=%E5%BB%BA") == ["chengguan:a1"]  # 建
    assert await uids("q=HONGQI") == ["chengguan:a2"]
    assert await uids("q=%25") == ["chengguan:a2", "water:b-5"]  # a literal %
    assert await uids("department=water&kind=onvif,rtsp") == ["water:B4"]
    assert await uids("community=%E8%A5%BF%E7%A4%BE%E5%8C%BA&tag=gate,pump") == ["chengguan:a3"]
    assert await uids("grid=G1,G2&status=degraded,offline") == ["chengguan:a2", "water:b1"]


async def test_near_answers_distances_and_pages(env: Env) -> None:
    answer = await ok(env, "/api/v1/cameras?near=113.15,27.83&radius=5000&limit=2")
    first = answer["items"]
    assert len(first) == 2
    rest = await ok(
        env, f"/api/v1/cameras?near=113.15,27.83&radius=5000&cursor={answer['next_cursor']}"
    )
    cameras = first + rest["items"]
    assert rest["next_cursor"] is None
    for camera in cameras:
        assert set(camera) == CAMERA_KEYS | {"distance_m"}
        loc = camera["location"]
        assert camera["distance_m"] == pytest.approx(
            haversine_m(113.15, 27.83, loc["lon"], loc["lat"]), abs=1e-6
        )
        assert camera["distance_m"] <= 5000
    distances = [c["distance_m"] for c in cameras]
    assert distances == sorted(distances)
    assert [c["uid"] for c in cameras] == ["chengguan:a3", "chengguan:a2", "water:b1", "water:b-5"]


async def test_pages_through_the_api_hold_every_camera_once(env: Env) -> None:
    everyone = [
        c["uid"]
        for c in (
            await ok(
                env,
                "/api/v1/cameras?tag=crossroad,gate,pump&status=online,degraded,offline,unknown,retired",
            )
        )["items"]
    ]
    seen: list[str] = []
    cursor = ""
    while True:
        page = await ok(
            env,
            f"/api/v1/cameras?limit=1&tag=crossroad,gate,pump&status=online,degraded,offline,unknown,retired{cursor}",
        )
        seen.extend(c["uid"] for c in page["items"])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == everyone == ["chengguan:a1", "chengguan:a3", "water:b2"]


async def test_geojson_and_crs(env: Env) -> None:
    response = await call(env, "/api/v1/cameras?format=geojson&crs=gcj02&limit=3")
    assert response.content_type == "application/geo+json"
    collection = await response.json(content_type=None)
    assert set(collection) == {"type", "features", "next_cursor"}
    assert collection["type"] == "FeatureCollection"
    assert collection["next_cursor"] is not None
    feature = collection["features"][0]
    assert feature["type"] == "Feature"
    assert feature["id"] == "chengguan:a1"
    assert feature["geometry"] == {
        "type": "Point",
        "coordinates": list(from_wgs84("gcj02", 113.10, 27.80)),
    }
    assert set(feature["properties"]) == CAMERA_KEYS - {"location"}
    # bbox in gcj02: the box of a1's GCJ-02 position, and nothing of its WGS-84 one.
    gx, gy = from_wgs84("gcj02", 113.10, 27.80)
    box = f"{gx},{gy},{gx},{gy}"
    found = await ok(env, f"/api/v1/cameras?crs=gcj02&bbox={box}")
    assert [c["uid"] for c in found["items"]] == ["chengguan:a1"]
    assert found["items"][0]["location"] == {"lon": gx, "lat": gy}
    assert (await ok(env, f"/api/v1/cameras?bbox={box}"))["items"] == []
    bd = await ok(env, "/api/v1/cameras/chengguan:a1?crs=bd09")
    assert bd["location"] == dict(
        zip(("lon", "lat"), from_wgs84("bd09", 113.10, 27.80), strict=True)
    )


async def test_one_camera_with_cell_and_last_snapshot(env: Env) -> None:
    camera = await ok(env, "/api/v1/cameras/chengguan:a1")
    assert set(camera) == CAMERA_KEYS | {"cell", "last_snapshot"}
    assert camera["cell"] == {
        "grid_id": "G1",
        "name": "网格G1",
        "community": "东社区",
        "street": "建设街道",
    }
    assert camera["last_snapshot"]["id"] == env.snapshots[2]
    retired = await ok(env, "/api/v1/cameras/water:b3")
    assert retired["status"] == "retired"
    nothing = await ok(env, "/api/v1/cameras/water:b2")
    assert (nothing["cell"], nothing["last_snapshot"], nothing["location"]) == (None, None, None)
    body = await problem(await call(env, "/api/v1/cameras/water:nope"), 404)
    assert body["detail"] == "no camera 'water:nope'"
