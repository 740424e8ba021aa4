"""On-demand captures end to end, on SQLite and PostgreSQL: the API records, the runner captures.

The runner polls the fixture farm through the scheduler's own pipeline; the
API's capture route waits for the result (201) or hands out a request to poll
(202).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from api.app import ApiSettings, create_app
from api.shapes import rfc3339
from catalog.captures import EXPIRED, get_capture, lease_captures, request_capture
from catalog.db import Catalog
from catalog.models import AuditEntry, Camera, CaptureRequest, Snapshot, utcnow
from catalog.principals import create_principal
from catalog.store import LocalStore
from catalog.store.thumbs import looks_whole
from ingest.captures import CaptureRunner, CaptureSettings
from ingest.farm import CameraFarm
from tests.integration.api_env import url_of
from tests.integration.test_ingest import Rig, build_rig, write_config

Client = TestClient[web.Request, web.Application]


@dataclass
class CaptureRig:
    """The ingest rig, a capture runner over its pipeline, and the API over the same catalog."""

    rig: Rig
    runner: CaptureRunner
    client: Client
    tokens: dict[str, str]

    async def post(self, uid: str, wait: int, role: str = "operator") -> tuple[int, Any]:
        response = await self.client.post(
            f"/api/v1/cameras/{uid}/capture?wait={wait}",
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
        )
        return response.status, await response.json(content_type=None)

    async def get(self, path: str) -> Any:
        response = await self.client.get(
            path, headers={"Authorization": f"Bearer {self.tokens['operator']}"}
        )
        assert response.status == 200, await response.text()
        return await response.json(content_type=None)


@pytest.fixture
async def captures(
    catalog: Catalog, camera_farm: CameraFarm, tmp_path: Path
) -> AsyncIterator[CaptureRig]:
    loaded = write_config(tmp_path / "config", camera_farm)
    async for rig in build_rig(catalog, LocalStore(tmp_path / "objects", fsync=False), loaded):
        runner = CaptureRunner(
            catalog, rig.scheduler.pipeline, CaptureSettings(owner="test-worker", idle_s=0.05)
        )
        tokens: dict[str, str] = {}
        async with catalog.sessions() as session, session.begin():
            tokens["operator"] = await create_principal(session, name="duty", role="operator")
            tokens["other"] = await create_principal(
                session, name="school", role="department", department_id="education"
            )
        settings = ApiSettings(url_of(catalog), "file:objects", tmp_path)
        async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
            yield CaptureRig(rig, runner, client, tokens)


async def _camera(catalog: Catalog, uid: str) -> Camera:
    async with catalog.sessions() as session:
        camera = await session.get(Camera, uid)
        assert camera is not None
        return camera


async def test_a_capture_stores_even_an_unchanged_picture_and_keeps_the_schedule(
    captures: CaptureRig,
) -> None:
    rig = captures.rig
    await rig.scheduler.run_once()
    before = await _camera(rig.catalog, "water:static-none")
    assert before.last_snapshot_id is not None
    status, body = await captures.post("water:static-none", wait=0)
    assert status == 202
    assert body["state"] == "pending"
    assert body["poll"] == f"/api/v1/captures/{body['capture_id']}"
    assert await captures.runner.run_once() == 1
    after = await _camera(rig.catalog, "water:static-none")
    assert after.last_snapshot_id != before.last_snapshot_id  # stored though unchanged
    assert after.next_due_at == before.next_due_at
    assert (after.lease_until, after.lease_owner) == (None, None)
    done = await captures.get(body["poll"])
    assert done["state"] == "done"
    assert done["error"] is None
    assert done["snapshot"]["id"] == after.last_snapshot_id
    assert done["snapshot"]["camera_uid"] == "water:static-none"
    async with rig.catalog.sessions() as session:
        snapshot = await session.get(Snapshot, after.last_snapshot_id)
        audit = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "capture"))
        ).all()
    assert snapshot is not None
    assert await rig.store.get(snapshot.object_key)
    assert looks_whole(await rig.store.get(snapshot.thumb_key))  # made though unchanged
    assert [(a.principal, a.camera_uid, a.client) for a in audit] == [
        ("duty", "water:static-none", "127.0.0.1")
    ]


async def test_a_capture_answers_201_when_the_worker_is_quick(captures: CaptureRig) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(captures.runner.run(stop))
    try:
        status, body = await captures.post("water:changing-digest", wait=10)
    finally:
        stop.set()
        await running
    assert status == 201, body
    assert body["camera_uid"] == "water:changing-digest"
    assert body["image_url"] == f"/api/v1/snapshots/{body['id']}.jpg"
    camera = await _camera(captures.rig.catalog, "water:changing-digest")
    assert (camera.status, camera.last_snapshot_id) == ("online", body["id"])


async def test_a_failed_capture_says_why_and_judges_the_camera(captures: CaptureRig) -> None:
    status, body = await captures.post("water:offline-none", wait=0)
    assert status == 202
    await captures.runner.run_once()
    failed = await captures.get(body["poll"])
    assert (failed["state"], failed["error"], failed["snapshot"]) == (
        "failed",
        "connection refused",
        None,
    )
    camera = await _camera(captures.rig.catalog, "water:offline-none")
    assert (camera.status, camera.status_reason) == ("offline", "connection refused")
    assert camera.lease_until is None


async def test_department_scope_retired_cameras_and_unknown_ids(captures: CaptureRig) -> None:
    status, body = await captures.post("water:changing-none", wait=0, role="other")
    assert status == 403
    assert body["detail"] == "a department token may only capture from its own department's cameras"
    status, body = await captures.post("water:nope", wait=0)
    assert status == 404
    async with captures.rig.catalog.sessions() as session, session.begin():
        await session.execute(
            update(Camera).where(Camera.uid == "water:black-none").values(status="retired")
        )
    status, body = await captures.post("water:black-none", wait=0)
    assert (status, body["detail"]) == (409, "camera 'water:black-none' is retired")
    response = await captures.client.get(
        "/api/v1/captures/999999",
        headers={"Authorization": f"Bearer {captures.tokens['operator']}"},
    )
    assert response.status == 404


async def test_leases_wait_for_a_running_poll_and_stale_requests_expire(
    captures: CaptureRig,
) -> None:
    catalog = captures.rig.catalog
    now = utcnow()
    async with catalog.sessions() as session, session.begin():
        busy = await request_capture(session, camera_uid="water:html-none", requested_by="a")
        stale = await request_capture(
            session,
            camera_uid="water:html-none",
            requested_by="a",
            now=now - timedelta(minutes=10),
        )
        await session.execute(
            update(Camera)
            .where(Camera.uid == "water:html-none")
            .values(lease_until=now + timedelta(seconds=30), lease_owner="scheduler")
        )
        busy_id, stale_id = busy.id, stale.id
    async with catalog.sessions() as session, session.begin():
        leased = await lease_captures(session, owner="w", now=now, limit=10, lease_s=15)
    assert leased == []  # the camera is being polled: the capture waits for it
    async with catalog.sessions() as session:
        found = [await get_capture(session, i) for i in (busy_id, stale_id)]
    assert [(c.state, c.error) for c in found if c is not None] == [
        ("pending", None),
        ("failed", EXPIRED),
    ]
    later = now + timedelta(seconds=31)  # the poll's lease has lapsed
    async with catalog.sessions() as session, session.begin():
        leased = await lease_captures(session, owner="w", now=later, limit=10, lease_s=15)
    assert [(c.request_id, c.camera.uid) for c in leased] == [(busy_id, "water:html-none")]
    async with catalog.sessions() as session, session.begin():
        again = await lease_captures(session, owner="w2", now=later, limit=10, lease_s=15)
        request = await session.get(CaptureRequest, busy_id)
        assert request is not None
        assert (request.state, request.lease_owner) == ("running", "w")
    assert again == []  # running under a live lease
    async with catalog.sessions() as session, session.begin():
        taken = await lease_captures(
            session, owner="w2", now=later + timedelta(seconds=16), limit=10, lease_s=15
        )
    assert [c.request_id for c in taken] == [busy_id]  # the first worker died


async def test_a_request_no_worker_takes_expires_when_a_client_polls_it(
    captures: CaptureRig,
) -> None:
    """`serve --no-ingest` with no worker anywhere: polling the request tells the client."""
    catalog = captures.rig.catalog
    _, stale = await captures.post("water:changing-none", wait=0)
    _, fresh = await captures.post("water:changing-basic", wait=0)
    async with catalog.sessions() as session, session.begin():
        await session.execute(  # asked six minutes ago; no worker has run since
            update(CaptureRequest)
            .where(CaptureRequest.id == stale["capture_id"])
            .values(requested_at=utcnow() - timedelta(minutes=6))
        )
    expired = await captures.get(stale["poll"])
    assert (expired["state"], expired["error"], expired["snapshot"]) == ("failed", EXPIRED, None)
    assert expired["finished_at"] is not None
    assert (await captures.get(fresh["poll"]))["state"] == "pending"
    async with catalog.sessions() as session:
        rows = {
            r.id: r
            for r in await session.scalars(
                select(CaptureRequest).where(
                    CaptureRequest.id.in_([stale["capture_id"], fresh["capture_id"]])
                )
            )
        }
    stored = rows[stale["capture_id"]]
    assert (stored.state, stored.error) == ("failed", EXPIRED)  # written down, not only shown
    assert rfc3339(stored.finished_at) == expired["finished_at"]
    assert (rows[fresh["capture_id"]].state, rows[fresh["capture_id"]].error) == ("pending", None)
    assert await captures.get(stale["poll"]) == expired  # read again: unchanged
    # A worker started later takes only the fresh request.
    assert await captures.runner.run_once() == 1
    assert (await captures.get(fresh["poll"]))["state"] == "done"
    assert await captures.get(stale["poll"]) == expired
