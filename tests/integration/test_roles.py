"""Who may call what: every route of the app against every kind of caller, on SQLite and PostgreSQL.

The route list comes from the app itself (`app[ROUTES]`), so a route added
without a row in `MATRIX` fails `test_every_route_has_a_row_in_the_matrix`.
Callers: no token, a malformed one, an expired one, a revoked one, an
operator, a department token of the camera's own department and one of
another department, and an admin. Every image served, capture asked and
override made must leave its audit row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from api.app import ApiSettings, create_app
from api.routing import ROUTES
from catalog.captures import request_capture
from catalog.db import Catalog
from catalog.models import AuditEntry, utcnow
from catalog.principals import create_principal, revoke_principal
from catalog.store import LocalStore
from tests.fixtures.databases import empty_catalog
from tests.integration.api_env import PROBLEM, jpeg, url_of
from tests.integration.catalog_rows import T0, add_all, make_snapshot, small_catalog

Client = TestClient[web.Request, web.Application]

#: Every kind of caller; the first four hold no usable token.
CALLERS: Final = (
    "none",
    "bad",
    "expired",
    "revoked",
    "operator",
    "department_own",
    "department_other",
    "admin",
)
NO_TOKEN: Final = CALLERS[:4]
#: The principal name of each caller with a token.
PRINCIPALS: Final = {
    "expired": "old-admin",
    "revoked": "gone-admin",
    "operator": "duty-operator",
    "department_own": "chengguan-desk",
    "department_other": "water-desk",
    "admin": "root-admin",
}
OWN_CAMERA: Final = "chengguan:a1"  # the department_own caller's department is chengguan


@dataclass(frozen=True)
class RolesEnv:
    """A running app over the small catalog, the callers' tokens, and ids to call with."""

    client: Client
    catalog: Catalog
    base_dir: Path
    tokens: Mapping[str, str]
    snapshot_id: int  # a snapshot of OWN_CAMERA whose objects are in the store
    capture_id: int


async def build_env(catalog: Catalog, base_dir: Path) -> tuple[Catalog, Path, dict[str, Any]]:
    """Seed the small catalog, its objects and every caller's token; return the ids used."""
    await empty_catalog(catalog)
    snaps = [
        make_snapshot(OWN_CAMERA, T0, 1),
        make_snapshot("water:b1", T0 + timedelta(minutes=1), 2),
    ]
    await add_all(catalog, [*small_catalog(), *snaps])
    store = LocalStore(base_dir / "objects", fsync=False)
    for snap in snaps:
        await store.put(snap.object_key, jpeg(snap.phash))
        await store.put(snap.thumb_key, jpeg(snap.phash, thumb=True))
    await store.close()
    tokens: dict[str, str] = {"bad": "cg_not-a-token", "none": ""}
    async with catalog.sessions() as session, session.begin():
        for caller, role, department in (
            ("operator", "operator", None),
            ("department_own", "department", "chengguan"),
            ("department_other", "department", "water"),
            ("admin", "admin", None),
            ("revoked", "admin", None),
        ):
            tokens[caller] = await create_principal(
                session, name=PRINCIPALS[caller], role=role, department_id=department
            )
        tokens["expired"] = await create_principal(
            session,
            name=PRINCIPALS["expired"],
            role="admin",
            expires_at=utcnow() - timedelta(seconds=1),
        )
        await revoke_principal(session, PRINCIPALS["revoked"])
        capture = await request_capture(session, camera_uid=OWN_CAMERA, requested_by="someone")
    return catalog, base_dir, {"tokens": tokens, "snapshot_id": snaps[0].id, "capture": capture.id}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def roles_env(
    request: pytest.FixtureRequest,
    migrated_catalogs: dict[str, Catalog],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RolesEnv]:
    """The app over a freshly seeded catalog, shared by the module's tests on one engine."""
    catalog = migrated_catalogs[request.param]
    base_dir = tmp_path_factory.mktemp(f"roles-{request.param}")
    _, _, ids = await build_env(catalog, base_dir)
    settings = ApiSettings(url_of(catalog), "file:objects", base_dir)
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        yield RolesEnv(client, catalog, base_dir, ids["tokens"], ids["snapshot_id"], ids["capture"])


@dataclass(frozen=True)
class Case:
    """How to call one route, and the status each caller with a live token gets.

    `expect` maps caller -> status for the four live callers; the public
    routes answer everyone, token or not. `audit` is the action an answer in
    the 2xx range must leave in the audit log.
    """

    path: str
    expect: Mapping[str, int]
    body: Any = None
    public: bool = False
    audit: str | None = None


def _all(status: int) -> dict[str, int]:
    return dict.fromkeys(("operator", "department_own", "department_other", "admin"), status)


READ: Final = _all(200)
ADMIN_ONLY: Final = {**_all(403), "admin": 200}
OWNERS_AND_ADMIN: Final = {**_all(200), "operator": 403, "department_other": 403}


def matrix(env: RolesEnv) -> dict[tuple[str, str], Case]:
    """One row per route of the app: (method, documented path) -> how to call it."""
    uid, sid = OWN_CAMERA, env.snapshot_id
    return {
        ("GET", "/api/v1/cameras"): Case("/api/v1/cameras?layers=1", READ),
        ("GET", "/api/v1/cameras/{uid}"): Case(f"/api/v1/cameras/{uid}?layers=1", READ),
        ("PATCH", "/api/v1/cameras/{uid}"): Case(
            f"/api/v1/cameras/{uid}", OWNERS_AND_ADMIN, body={"name": None}, audit="override"
        ),
        ("POST", "/api/v1/cameras/{uid}/capture"): Case(
            f"/api/v1/cameras/{uid}/capture?wait=0",
            {**_all(202), "department_other": 403},
            audit="capture",
        ),
        ("GET", "/api/v1/captures/{id}"): Case(f"/api/v1/captures/{env.capture_id}", READ),
        ("GET", "/api/v1/cameras/{uid}/snapshots"): Case(f"/api/v1/cameras/{uid}/snapshots", READ),
        ("GET", "/api/v1/cameras/{uid}/events"): Case(f"/api/v1/cameras/{uid}/events", READ),
        ("GET", "/api/v1/cameras/{uid}/latest.jpg"): Case(
            f"/api/v1/cameras/{uid}/latest.jpg?size=thumb", READ, audit="view_thumb"
        ),
        ("GET", "/api/v1/wall"): Case("/api/v1/wall", READ),
        ("GET", "/api/v1/snapshots"): Case("/api/v1/snapshots", READ),
        ("GET", "/api/v1/snapshots/{id}"): Case(f"/api/v1/snapshots/{sid}", READ),
        ("GET", "/api/v1/snapshots/{id}.jpg"): Case(
            f"/api/v1/snapshots/{sid}.jpg", READ, audit="view_image"
        ),
        ("GET", "/api/v1/grids"): Case("/api/v1/grids", READ),
        ("GET", "/api/v1/grids/{id}"): Case("/api/v1/grids/G1", READ),
        ("GET", "/api/v1/departments"): Case("/api/v1/departments", READ),
        ("GET", "/api/v1/stats"): Case("/api/v1/stats", READ),
        ("GET", "/api/v1/audit"): Case("/api/v1/audit", ADMIN_ONLY),
        ("GET", "/api/v1/health"): Case("/api/v1/health", READ, public=True),
        ("GET", "/api/v1/metrics"): Case("/api/v1/metrics", READ, public=True),
        ("GET", "/api/v1/openapi.json"): Case("/api/v1/openapi.json", READ, public=True),
        ("GET", "/api/v1/docs"): Case("/api/v1/docs", READ, public=True),
        ("GET", "/"): Case("/", READ, public=True),
    }


def expected_status(case: Case, caller: str) -> int:
    """What `caller` must get from the route `case` calls."""
    if case.public:
        return 200
    if caller in NO_TOKEN:
        return 401
    return case.expect[caller]


async def audit_actions(env: RolesEnv, principal: str) -> list[str]:
    """The actions of `principal`'s audit rows, oldest first."""
    async with env.catalog.sessions() as session:
        rows = await session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.principal == principal)
            .order_by(AuditEntry.id)
        )
        return list(rows)


async def test_every_route_has_a_row_in_the_matrix(roles_env: RolesEnv) -> None:
    routes = {(route.method, route.path) for route in roles_env.client.app[ROUTES]}
    assert set(matrix(roles_env)) == routes


@pytest.mark.parametrize("caller", CALLERS)
async def test_role_matrix(roles_env: RolesEnv, caller: str) -> None:
    """Each route once as `caller`: the expected status, problem+json on errors, audit rows."""
    principal = PRINCIPALS.get(caller)
    before = await audit_actions(roles_env, principal) if principal else []
    headers = {"Authorization": f"Bearer {roles_env.tokens[caller]}"} if caller != "none" else {}
    wrong: list[tuple[str, str, int, int]] = []
    audited: list[str] = []
    for (method, template), case in matrix(roles_env).items():
        response = await roles_env.client.request(
            method, case.path, headers=headers, json=case.body, allow_redirects=False
        )
        expected = expected_status(case, caller)
        if response.status != expected:
            wrong.append((method, template, response.status, expected))
            continue
        if response.status >= 400:
            assert response.content_type == PROBLEM, (method, template)
            body = await response.json(content_type=None)
            assert body["status"] == response.status
        if response.status == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        if response.status < 300 and case.audit is not None:
            audited.append(case.audit)
    assert wrong == [], f"(method, route, got, expected) for {caller}"
    if principal is not None:
        assert (await audit_actions(roles_env, principal))[len(before) :] == audited


async def test_a_department_token_cannot_touch_another_departments_cameras(
    roles_env: RolesEnv,
) -> None:
    headers = {"Authorization": f"Bearer {roles_env.tokens['department_other']}"}
    patch = await roles_env.client.patch(
        f"/api/v1/cameras/{OWN_CAMERA}", json={"name": "taken over"}, headers=headers
    )
    assert patch.status == 403
    assert (await patch.json(content_type=None))["detail"] == (
        "a department token may only manage its own department's cameras"
    )
    capture = await roles_env.client.post(
        f"/api/v1/cameras/{OWN_CAMERA}/capture?wait=0", headers=headers
    )
    assert capture.status == 403
    camera = await roles_env.client.get(f"/api/v1/cameras/{OWN_CAMERA}", headers=headers)
    assert (await camera.json())["name"] == "建设路与红旗路交叉口"
    actions = set(await audit_actions(roles_env, PRINCIPALS["department_other"]))
    assert actions <= {"view_image", "view_thumb"}  # never a capture or an override


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
async def test_the_audit_log_cannot_be_edited_through_the_api(
    roles_env: RolesEnv, method: str
) -> None:
    headers = {"Authorization": f"Bearer {roles_env.tokens['admin']}"}
    for path in ("/api/v1/audit", "/api/v1/audit/1"):
        response = await roles_env.client.request(method, path, headers=headers, json={})
        assert response.status in (404, 405), (method, path)
        assert response.content_type == PROBLEM
    response = await roles_env.client.request(method, "/api/v1/audit", headers=headers)
    assert response.status == 405
    assert response.headers["Allow"] == "GET"


async def test_audit_filters_by_principal_camera_and_time(roles_env: RolesEnv) -> None:
    admin = {"Authorization": f"Bearer {roles_env.tokens['admin']}"}
    operator = {"Authorization": f"Bearer {roles_env.tokens['operator']}"}
    started = utcnow()
    await roles_env.client.get(f"/api/v1/snapshots/{roles_env.snapshot_id}.jpg", headers=operator)
    await roles_env.client.get("/api/v1/cameras/water:b1/latest.jpg", headers=operator)

    async def items(query: str) -> list[dict[str, Any]]:
        response = await roles_env.client.get(f"/api/v1/audit?{query}", headers=admin)
        assert response.status == 200, await response.text()
        found: list[dict[str, Any]] = (await response.json())["items"]
        return found

    since = started.isoformat().replace("+00:00", "Z")
    mine = await items(f"principal={PRINCIPALS['operator']}&since={since}")
    assert [(i["action"], i["camera_uid"]) for i in mine] == [
        ("view_image", "water:b1"),
        ("view_image", OWN_CAMERA),
    ]
    assert all(i["client"] == "127.0.0.1" and i["role"] == "operator" for i in mine)
    by_camera = await items(f"camera=water:b1&since={since}")
    assert [i["principal"] for i in by_camera] == [PRINCIPALS["operator"]]
    assert await items(f"principal={PRINCIPALS['operator']}&until={since}&since={since}") == []
