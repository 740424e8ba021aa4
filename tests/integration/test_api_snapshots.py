"""Snapshots and images over a real socket, on SQLite and PostgreSQL: windows, areas, the wall,
audited image answers and presigned redirects.

One app per engine serves the whole module (`env`, from `tests.integration.api_env`).
"""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from api.app import ApiSettings, create_app
from catalog.models import AuditEntry
from catalog.store import open_store
from tests.fixtures.s3server import S3Server
from tests.integration.api_env import SNAPSHOT_KEYS, Env, bad_params, call, jpeg, ok, problem

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
        "target",
    }
    assert audit["items"][0]["target"] is None  # only token changes have one


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
