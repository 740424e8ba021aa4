"""The seeded API app the `test_api_*` modules share, and the helpers they call it with.

`env` is one app per engine (SQLite and PostgreSQL) over the small catalog
of `tests.integration.catalog_rows`, with snapshots (one without its object),
an inventory result and tokens of every kind, for a whole test module; tests
that change what they read (tokens, audit rows) use names and rows of their
own. `tests/integration/conftest.py` makes the fixture visible to them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiSettings, create_app
from api.schemas import SCHEMAS
from catalog.db import Catalog
from catalog.models import Inventory, utcnow
from catalog.principals import create_principal, revoke_principal
from catalog.store import LocalStore
from tests.fixtures.databases import empty_catalog
from tests.integration.catalog_rows import T0, add_all, make_snapshot, small_catalog

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
