"""The HTTP API over a real socket, on SQLite and PostgreSQL: auth, parameters, shapes, images.

One app per engine serves the whole module (`env`); tests that change what
they read (tokens, audit rows) use names and rows of their own.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from api.app import ApiSettings, create_app
from api.auth import TokenCache
from api.context import Identity
from api.routing import ROUTES
from api.schemas import SCHEMAS
from catalog.crs import from_wgs84, haversine_m
from catalog.db import Catalog
from catalog.models import AuditEntry, Inventory, utcnow
from catalog.principals import create_principal, revoke_principal
from catalog.store import LocalStore, open_store
from tests.fixtures.databases import empty_catalog
from tests.fixtures.s3server import S3Server
from tests.integration.test_queries import T0, add_all, make_snapshot, small_catalog

PROBLEM = "application/problem+json"
CAMERA_KEYS = set(SCHEMAS["Camera"]["required"])
SNAPSHOT_KEYS = set(SCHEMAS["Snapshot"]["required"])
Client = TestClient[web.Request, web.Application]


@dataclass(frozen=True)
class Env:
    """A running app over a seeded catalog, and what the tests need to know about it."""

    client: Client
    catalog: Catalog
    url: str
    base_dir: Path
    tokens: Mapping[str, str]
    snapshots: Mapping[int, int]  # the n of make_snapshot -> snapshot id
    images: Mapping[str, bytes]  # object key -> bytes put in the store


def jpeg(n: int, thumb: bool = False) -> bytes:
    """Distinct bytes standing in for an image (the API never decodes them)."""
    return b"\xff\xd8\xff\xe0" + (b"thumb" if thumb else b"image") + bytes([n]) * 64 + b"\xff\xd9"


def url_of(catalog: Catalog) -> str:
    """The catalog's URL with its password, for a second engine on it."""
    return catalog.engine.url.render_as_string(hide_password=False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def env(
    request: pytest.FixtureRequest,
    migrated_catalogs: dict[str, Catalog],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Env]:
    """The small catalog with snapshots (one without its object), tokens of every kind."""
    catalog = migrated_catalogs[request.param]
    await empty_catalog(catalog)
    base_dir = tmp_path_factory.mktemp(f"api-{request.param}")
    snaps = [
        make_snapshot("chengguan:a1", T0, 1),
        make_snapshot("chengguan:a1", T0 + timedelta(minutes=1), 2, flags=["dark", "blurred"]),
        make_snapshot("chengguan:a3", T0 + timedelta(minutes=2), 3),
        make_snapshot("water:b3", T0 + timedelta(minutes=3), 4),  # a retired camera
        make_snapshot("water:b1", T0 + timedelta(minutes=4), 5),  # its object is missing
    ]
    await add_all(catalog, [*small_catalog(), *snaps])
    await add_all(
        catalog,
        [
            Inventory(department_id="water", position=0, kind="csv", label="点位表.csv",
                      every_s=3600.0, last_sync_at=T0, last_count=12,
                      last_error="1 row(s) rejected, first 点位表.csv:7 经度: not a number",
                      next_due_at=T0)
        ],
    )  # fmt: skip
    store = LocalStore(base_dir / "objects", fsync=False)
    images: dict[str, bytes] = {}
    for snap in snaps[:4]:
        images[snap.object_key] = jpeg(snap.phash)
        images[snap.thumb_key] = jpeg(snap.phash, thumb=True)
    for key, data in images.items():
        await store.put(key, data)
    await store.close()
    tokens: dict[str, str] = {}
    async with catalog.sessions() as session, session.begin():
        for role in ("operator", "admin"):
            tokens[role] = await create_principal(session, name=f"{role}-1", role=role)
        tokens["department"] = await create_principal(
            session, name="water-desk", role="department", department_id="water"
        )
        tokens["expired"] = await create_principal(
            session, name="old", role="admin", expires_at=utcnow() - timedelta(minutes=1)
        )
        tokens["revoked"] = await create_principal(session, name="gone", role="admin")
        await revoke_principal(session, "gone")
    settings = ApiSettings(url_of(catalog), "file:objects", base_dir)
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        yield Env(
            client,
            catalog,
            url_of(catalog),
            base_dir,
            tokens,
            {s.phash: s.id for s in snaps},
            images,
        )


async def call(
    env: Env, path: str, role: str | None = "operator", **headers: str
) -> aiohttp.ClientResponse:
    """GET `path` as `role` (None: without a token)."""
    if role is not None:
        headers["Authorization"] = f"Bearer {env.tokens[role]}"
    return await env.client.get(path, headers=headers, allow_redirects=False)


async def ok(env: Env, path: str, role: str = "operator") -> Any:
    """The JSON of a 200 answer."""
    response = await call(env, path, role)
    assert response.status == 200, await response.text()
    return await response.json(content_type=None)


async def problem(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """Assert a problem+json answer with `status`; return its body."""
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["status"] == status
    assert body["type"].startswith("/api/v1/docs#problem-")
    assert body["title"]
    assert body["detail"]
    return body


async def bad_params(env: Env, path: str) -> dict[str, str]:
    """The reasons of a 400, by parameter name."""
    body = await problem(await call(env, path), 400)
    return {item["name"]: item["reason"] for item in body["invalid_params"]}


# Authentication


@pytest.mark.parametrize("path", ["/api/v1/cameras", "/api/v1/snapshots/1.jpg", "/api/v1/stats"])
async def test_no_token_is_401_with_a_challenge(env: Env, path: str) -> None:
    response = await call(env, path, role=None)
    body = await problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in body["detail"]
    basic = await env.client.get(path, headers={"Authorization": "Basic YTpi"})
    await problem(basic, 401)


@pytest.mark.parametrize("role", ["expired", "revoked"])
async def test_expired_and_revoked_tokens_are_401(env: Env, role: str) -> None:
    response = await call(env, "/api/v1/cameras", role)
    body = await problem(response, 401)
    assert body["detail"] == "the token is unknown, expired or revoked"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    unknown = await env.client.get(
        "/api/v1/cameras", headers={"Authorization": "Bearer cg_nonsense"}
    )
    assert (await problem(unknown, 401))["detail"] == body["detail"]


async def test_public_routes_need_no_token(env: Env) -> None:
    for path in ("/api/v1/health", "/api/v1/metrics", "/api/v1/openapi.json", "/api/v1/docs", "/"):
        response = await call(env, path, role=None)
        assert response.status == 200, path
    assert await (await call(env, "/api/v1/health", None)).json() == {"status": "ok"}


def test_the_token_cache_expires_entries() -> None:
    now = [0.0]
    cache = TokenCache(ttl_s=5.0, max_entries=2, clock=lambda: now[0])
    alice = Identity("alice", "operator", None, None)
    cache.put("h1", alice)
    assert cache.get("h1") == alice
    now[0] = 5.0
    assert cache.get("h1") is None  # revocation shows within the TTL
    cache.put("h1", alice)
    cache.put("h2", alice)
    cache.put("h3", alice)
    assert cache.get("h1") is None  # the oldest went when full
    cache.put("h4", Identity("old", "admin", None, utcnow() - timedelta(seconds=1)))
    assert cache.get("h4") is None  # expiry is checked on every hit


async def test_audit_is_for_admins_only(env: Env) -> None:
    for role in ("operator", "department"):
        body = await problem(await call(env, "/api/v1/audit", role), 403)
        assert body["detail"] == "this route is for the admin role only"
    answer = await ok(env, "/api/v1/audit", "admin")
    assert set(answer) == {"items", "next_cursor"}


# Parameters


async def test_unknown_and_repeated_parameters_are_named(env: Env) -> None:
    reasons = await bad_params(env, "/api/v1/cameras?colour=red&limit=5&limit=6")
    assert reasons["colour"].startswith("unknown parameter; this route takes bbox, near")
    assert reasons["limit"] == "given more than once; use one comma-separated list"
    assert "unknown parameter" in (await bad_params(env, "/api/v1/stats?x=1"))["x"]


@pytest.mark.parametrize(
    ("query", "name", "reason"),
    [
        ("limit=0", "limit", "expected an integer from 1 to 1000"),
        ("limit=1001", "limit", "expected an integer from 1 to 1000"),
        ("limit=ten", "limit", "expected an integer from 1 to 1000"),
        ("bbox=1,2,3", "bbox", "expected minLon,minLat,maxLon,maxLat"),
        ("bbox=2,0,1,1", "bbox", "the minimum exceeds the maximum"),
        ("bbox=0,0,1,nan", "bbox", "must be a finite number"),
        ("near=113,27", "radius", "required with near"),
        ("radius=5", "radius", "only meaningful with near"),
        ("near=113,27&radius=-1", "radius", "must be above zero"),
        ("near=200,27&radius=1", "near", "longitude must be within -180..180"),
        ("status=online,sleeping", "status", "unknown value 'sleeping'"),
        ("status=online,", "status", "an empty item in the comma-separated list"),
        ("crs=mars", "crs", "expected wgs84 | gcj02 | bd09"),
        ("format=xml", "format", "expected json | geojson"),
        ("cursor=nonsense", "cursor", "not a cursor of this list"),
    ],
)
async def test_malformed_camera_parameters_are_named(
    env: Env, query: str, name: str, reason: str
) -> None:
    reasons = await bad_params(env, f"/api/v1/cameras?{query}")
    assert list(reasons) == [name]
    assert reason in reasons[name]


async def test_times_need_an_offset(env: Env) -> None:
    base = "/api/v1/cameras/chengguan:a1/snapshots"
    reasons = await bad_params(env, f"{base}?since=2024-05-01T08:00:00&until=yesterday")
    assert set(reasons) == {"since", "until"}
    assert reasons["since"].startswith("expected an RFC 3339 time with an offset")
    # A raw '+' in a query string arrives as a space: say so.
    plus = await bad_params(env, f"{base}?since=2024-05-01T08:00:00+08:00")
    assert "%2B" in plus["since"]
    order = await bad_params(env, f"{base}?since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z")
    assert order == {"until": "must not be before since"}
    assert await bad_params(env, "/api/v1/snapshots/0") == {
        "id": "expected an integer from 1 to 9223372036854775807"
    }


async def test_every_documented_parameter_is_accepted(env: Env) -> None:
    """The spec and the validation come from one declaration: no documented name is unknown."""
    spec = await ok(env, "/api/v1/openapi.json")
    for path, methods in spec["paths"].items():
        path = path.replace("{uid}", "chengguan:a1").replace("{id}", "G1")
        for method, operation in methods.items():
            for param in operation["parameters"]:
                if param["in"] == "path":
                    continue
                for value in ("x", "%00"):
                    response = await env.client.request(
                        method.upper(),
                        f"{path}?{param['name']}={value}",
                        headers={"Authorization": f"Bearer {env.tokens['admin']}"},
                        allow_redirects=False,
                    )
                    assert response.status in (200, 400, 404), (path, param, value)
                    if response.status == 400:
                        body = await response.json(content_type=None)
                        assert [p["name"] for p in body["invalid_params"]] == [param["name"]]
                        assert "unknown parameter" not in body["invalid_params"][0]["reason"]


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


# Snapshots


async def test_camera_snapshots_window_and_shape(env: Env) -> None:
    answer = await ok(env, "/api/v1/cameras/chengguan:a1/snapshots")
    assert [s["id"] for s in answer["items"]] == [env.snapshots[2], env.snapshots[1]]
    snap = answer["items"][0]
    assert set(snap) == SNAPSHOT_KEYS
    sid = env.snapshots[2]
    assert snap == {
        "id": sid,
        "camera_uid": "chengguan:a1",
        "captured_at": "2024-05-01T08:01:00Z",
        "width": 640,
        "height": 360,
        "bytes": 1002,
        "sha256": f"{2:064x}",
        "image_url": f"/api/v1/snapshots/{sid}.jpg",
        "thumb_url": f"/api/v1/snapshots/{sid}.jpg?size=thumb",
        "quality": {"brightness": 0.5, "sharpness": 100.0, "flags": ["dark", "blurred"]},
    }
    window = "since=2024-05-01T16:01:00%2B08:00&until=2024-05-01T08:02:00Z"
    inclusive = await ok(env, f"/api/v1/cameras/chengguan:a1/snapshots?{window}")
    assert [s["id"] for s in inclusive["items"]] == [sid]
    exclusive = await ok(env, "/api/v1/cameras/chengguan:a1/snapshots?until=2024-05-01T08:01:00Z")
    assert [s["id"] for s in exclusive["items"]] == [env.snapshots[1]]
    paged = await ok(env, "/api/v1/cameras/chengguan:a1/snapshots?limit=1")
    assert paged["next_cursor"] is not None
    await problem(await call(env, "/api/v1/cameras/water:nope/snapshots"), 404)
    assert await ok(env, f"/api/v1/snapshots/{sid}") == snap
    await problem(await call(env, "/api/v1/snapshots/999999"), 404)


async def test_snapshots_by_area(env: Env) -> None:
    g2 = await ok(env, "/api/v1/snapshots?grid=G2")
    # a3 and the retired b3 and b1 lie in G2: history of retired cameras stays.
    assert [s["id"] for s in g2["items"]] == [env.snapshots[n] for n in (5, 4, 3)]
    near = await ok(env, "/api/v1/snapshots?near=113.10,27.80&radius=10")
    assert [s["id"] for s in near["items"]] == [env.snapshots[2], env.snapshots[1]]
    boxed = await ok(
        env, "/api/v1/snapshots?bbox=113.15,27.83,113.20,27.85&since=2024-05-01T08:03:00Z"
    )
    assert [s["id"] for s in boxed["items"]] == [env.snapshots[5], env.snapshots[4]]
    everything = await ok(env, "/api/v1/snapshots?limit=2")
    assert len(everything["items"]) == 2
    assert everything["next_cursor"] is not None
    assert "q" in await bad_params(env, "/api/v1/snapshots?q=x")


async def test_wall_has_the_newest_thumbnail_of_each_camera(env: Env) -> None:
    wall = await ok(env, "/api/v1/wall?department=chengguan")
    tiles = {t["camera_uid"]: t for t in wall["items"]}
    assert list(tiles) == ["chengguan:a1", "chengguan:a2", "chengguan:a3"]
    sid = env.snapshots[2]
    assert tiles["chengguan:a1"] == {
        "camera_uid": "chengguan:a1",
        "name": "建设路与红旗路交叉口",
        "status": "online",
        "snapshot_id": sid,
        "captured_at": "2024-05-01T08:01:00Z",
        "thumb_url": f"/api/v1/snapshots/{sid}.jpg?size=thumb",
    }
    assert tiles["chengguan:a2"]["thumb_url"] is None


# Images


async def audit_rows(env: Env, snapshot_id: int) -> list[AuditEntry]:
    """The audit rows of one snapshot, oldest first."""
    async with env.catalog.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry).where(AuditEntry.snapshot_id == snapshot_id).order_by(AuditEntry.id)
        )
        return list(rows)


async def test_snapshot_image_is_audited_and_cacheable(env: Env) -> None:
    sid = env.snapshots[3]
    before = len(await audit_rows(env, sid))
    response = await call(env, f"/api/v1/snapshots/{sid}.jpg", "department")
    assert response.status == 200
    assert response.content_type == "image/jpeg"
    assert await response.read() == jpeg(3)
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.headers["ETag"] == f'"{3:064x}"'
    thumb = await call(env, f"/api/v1/snapshots/{sid}.jpg?size=thumb", "admin")
    assert await thumb.read() == jpeg(3, thumb=True)
    assert thumb.headers["ETag"] != response.headers["ETag"]
    again = await call(
        env,
        f"/api/v1/snapshots/{sid}.jpg",
        "operator",
        **{"If-None-Match": response.headers["ETag"]},
    )
    assert again.status == 304
    rows = (await audit_rows(env, sid))[before:]
    assert [(r.principal, r.role, r.action, r.camera_uid, r.client) for r in rows] == [
        ("water-desk", "department", "view_image", "chengguan:a3", "127.0.0.1"),
        ("admin-1", "admin", "view_thumb", "chengguan:a3", "127.0.0.1"),
        ("operator-1", "operator", "view_image", "chengguan:a3", "127.0.0.1"),
    ]
    audit = await ok(env, "/api/v1/audit?principal=water-desk&camera=chengguan:a3", "admin")
    assert audit["items"][0]["action"] == "view_image"
    assert set(audit["items"][0]) == {
        "principal",
        "role",
        "action",
        "camera_uid",
        "snapshot_id",
        "at",
        "client",
    }


async def test_latest_image_with_flags(env: Env) -> None:
    sid = env.snapshots[2]
    before = len(await audit_rows(env, sid))
    response = await call(env, "/api/v1/cameras/chengguan:a1/latest.jpg")
    assert response.status == 200
    assert await response.read() == env.images["img/test/2.jpg"] == jpeg(2)
    assert response.headers["X-Snapshot-Flags"] == "dark,blurred"
    assert response.headers["Cache-Control"] == "private, no-cache"
    thumb = await call(env, "/api/v1/cameras/chengguan:a1/latest.jpg?size=thumb")
    assert await thumb.read() == jpeg(2, thumb=True)
    rows = (await audit_rows(env, sid))[before:]
    assert [r.action for r in rows] == ["view_image", "view_thumb"]
    none = await problem(await call(env, "/api/v1/cameras/chengguan:a2/latest.jpg"), 404)
    assert none["detail"] == "camera 'chengguan:a2' has no snapshot yet"
    await problem(await call(env, "/api/v1/cameras/water:nope/latest.jpg"), 404)


async def test_a_missing_object_is_404_and_not_audited(env: Env) -> None:
    sid = env.snapshots[5]
    body = await problem(await call(env, f"/api/v1/snapshots/{sid}.jpg"), 404)
    assert body["detail"] == f"the image of snapshot {sid} is missing"
    assert await audit_rows(env, sid) == []


async def test_presigned_images_redirect_after_the_audit_row(
    env: Env, s3_server: S3Server, s3_bucket: str
) -> None:
    store = open_store(s3_server.url(s3_bucket))
    await store.put("img/test/1.jpg", jpeg(1))
    await store.close()
    settings = ApiSettings(env.url, s3_server.url(s3_bucket), env.base_dir, presign_images=True)
    sid = env.snapshots[1]
    before = len(await audit_rows(env, sid))
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        response = await client.get(
            f"/api/v1/snapshots/{sid}.jpg",
            headers={"Authorization": f"Bearer {env.tokens['operator']}"},
            allow_redirects=False,
        )
        assert response.status == 302
        assert response.headers["Cache-Control"] == "private, no-store"
        location = response.headers["Location"]
        assert location.startswith(f"http://{s3_server.endpoint}/{s3_bucket}/img/test/1.jpg?")
        assert [r.action for r in (await audit_rows(env, sid))[before:]] == ["view_image"]
        async with aiohttp.ClientSession() as plain, plain.get(location) as fetched:
            assert await fetched.read() == jpeg(1)


# Overview


async def test_grids_departments_and_stats(env: Env) -> None:
    response = await call(env, "/api/v1/grids")
    assert response.content_type == "application/geo+json"
    grids = await response.json(content_type=None)
    assert [f["id"] for f in grids["features"]] == ["G1", "G2"]
    g2 = grids["features"][1]
    assert g2["properties"]["cameras"] == {
        "total": 2, "online": 1, "degraded": 0, "offline": 1, "unknown": 0, "retired": 1
    }  # fmt: skip
    assert await (await call(env, "/api/v1/grids/G2")).json(content_type=None) == g2
    shifted = await (await call(env, "/api/v1/grids/G2?crs=gcj02")).json(content_type=None)
    corner = g2["geometry"]["coordinates"][0][0]
    assert shifted["geometry"]["coordinates"][0][0] == list(from_wgs84("gcj02", *corner))
    await problem(await call(env, "/api/v1/grids/nope"), 404)
    departments = await ok(env, "/api/v1/departments")
    assert [d["id"] for d in departments["items"]] == ["chengguan", "water"]
    assert set(departments["items"][0]) == {"id", "name", "cameras", "inventories"}
    assert departments["items"][0]["inventories"] == []
    assert departments["items"][1]["inventories"] == [
        {
            "kind": "csv",
            "label": "点位表.csv",
            "last_sync_at": "2024-05-01T08:00:00Z",
            "count": 12,
            "error": "1 row(s) rejected, first 点位表.csv:7 经度: not a number",
        }
    ]
    stats = await ok(env, "/api/v1/stats")
    assert set(stats) == {"cameras", "snapshots", "departments"}
    assert stats["cameras"]["total"] == 7
    assert stats["cameras"]["retired"] == 1
    assert stats["snapshots"]["total"] == 5


async def test_unknown_routes_and_methods_are_problems(env: Env) -> None:
    await problem(await call(env, "/api/v1/nothing-here"), 404)
    response = await env.client.post("/api/v1/cameras")
    await problem(response, 405)
    assert "GET" in response.headers["Allow"]


# The spec and its page


async def test_openapi_documents_every_route(env: Env) -> None:
    spec = await ok(env, "/api/v1/openapi.json", "operator")
    assert spec["openapi"] == "3.1.0"
    registered = {
        (route.resource.canonical, route.method.lower())
        for route in env.client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {(path, method) for path, methods in spec["paths"].items() for method in methods}
    assert registered == documented
    assert {p for p, _ in documented} >= {
        "/api/v1/cameras", "/api/v1/cameras/{uid}", "/api/v1/cameras/{uid}/snapshots",
        "/api/v1/cameras/{uid}/latest.jpg", "/api/v1/snapshots", "/api/v1/snapshots/{id}",
        "/api/v1/snapshots/{id}.jpg", "/api/v1/wall", "/api/v1/grids", "/api/v1/grids/{id}",
        "/api/v1/departments", "/api/v1/stats", "/api/v1/audit", "/api/v1/health",
        "/api/v1/metrics", "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/cameras/{uid}/events",
        "/api/v1/cameras/{uid}/capture", "/api/v1/captures/{id}",
    }  # fmt: skip
    for route in env.client.app[ROUTES]:
        operation = spec["paths"][route.path][route.method.lower()]
        assert [p["name"] for p in operation["parameters"]] == [p.name for p in route.params]
        assert ("security" in operation) == (
            route.path
            in {"/", "/api/v1/health", "/api/v1/metrics", "/api/v1/openapi.json", "/api/v1/docs"}
        )
    cameras = spec["paths"]["/api/v1/cameras"]["get"]
    assert {p["name"] for p in cameras["parameters"]} == {
        "bbox", "near", "radius", "grid", "community", "department", "status", "kind", "tag",
        "q", "crs", "limit", "cursor", "format", "layers",
    }  # fmt: skip
    assert "401" in cameras["responses"]
    assert "403" in spec["paths"]["/api/v1/audit"]["get"]["responses"]


async def test_docs_page_is_self_contained(env: Env) -> None:
    response = await call(env, "/api/v1/docs", None)
    assert response.content_type == "text/html"
    page = await response.text()
    assert "/api/v1/openapi.json" in page
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page, re.IGNORECASE)
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page, re.IGNORECASE)
    for anchor in ("invalid-parameters", "unauthorized", "forbidden", "not-found", "unavailable"):
        assert f'id="problem-{anchor}"' in page


async def test_metrics_count_requests_by_route_and_status(env: Env) -> None:
    await call(env, "/api/v1/cameras/water:nope")
    text = await (await call(env, "/api/v1/metrics", None)).text()
    labels = r'\{method="GET",route="/api/v1/cameras/\{uid\}",status="404"\}'
    assert re.search(r"camgrid_api_request_duration_seconds_count" + labels + " [1-9]", text)


# A lost database


async def test_a_lost_database_is_503(env: Env, tmp_path: Path) -> None:
    settings = ApiSettings(
        "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere", "file:objects", tmp_path
    )
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        health = await client.get("/api/v1/health")
        body = await problem(health, 503)
        assert "database" in body["detail"]
        cameras = await client.get(
            "/api/v1/cameras", headers={"Authorization": f"Bearer {env.tokens['operator']}"}
        )
        await problem(cameras, 503)
