"""Operators' overrides through `PATCH /cameras/{uid}`, `?layers=1`, and the status history.

On SQLite and PostgreSQL, over the small catalog of `catalog_rows`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import MAX_BODY_BYTES, ApiSettings, create_app
from catalog.crs import from_wgs84
from catalog.db import Catalog
from tests.integration.api_env import PROBLEM, url_of
from tests.integration.test_roles import build_env

Client = TestClient[web.Request, web.Application]
UID = "chengguan:a1"


class Api:
    """A client that calls as one token."""

    def __init__(self, client: Client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def patch(self, body: Any, query: str = "", status: int = 200) -> Any:
        response = await self.client.patch(
            f"/api/v1/cameras/{UID}{query}", json=body, headers=self.headers
        )
        assert response.status == status, await response.text()
        return await response.json(content_type=None)

    async def get(self, path: str) -> Any:
        response = await self.client.get(path, headers=self.headers)
        assert response.status == 200, await response.text()
        return await response.json(content_type=None)

    async def invalid(self, body: Any, **kwargs: Any) -> dict[str, str]:
        problem = await self.patch(body, status=400, **kwargs)
        return {item["name"]: item["reason"] for item in problem["invalid_params"]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def api(
    request: pytest.FixtureRequest,
    migrated_catalogs: dict[str, Catalog],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Api]:
    """An app over the small catalog, called as the chengguan department's token."""
    catalog = migrated_catalogs[request.param]
    base_dir = tmp_path_factory.mktemp(f"overrides-{request.param}")
    _, _, ids = await build_env(catalog, base_dir)
    settings = ApiSettings(url_of(catalog), "file:objects", base_dir)
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        yield Api(client, ids["tokens"]["department_own"])


async def test_overrides_apply_show_as_layers_and_clear(api: Api) -> None:
    renamed = await api.patch({"name": "  东门  "})
    assert renamed["name"] == "东门"
    assert renamed["override"] == {"name": "东门"}
    assert renamed["source"]["name"] == "建设路与红旗路交叉口"
    assert renamed["source"]["location"] == {"lon": 113.10, "lat": 27.80, "crs": "wgs84"}
    found = await api.get("/api/v1/cameras?q=%E4%B8%9C%E9%97%A8&layers=1")  # 东门
    assert [(c["uid"], c["override"]) for c in found["items"]] == [(UID, {"name": "东门"})]
    plain = await api.get(f"/api/v1/cameras/{UID}")
    assert "source" not in plain
    assert "override" not in plain

    lon, lat = from_wgs84("gcj02", 113.17, 27.82)
    moved = await api.patch({"location": {"lon": lon, "lat": lat}}, query="?crs=gcj02")
    assert moved["location"]["lon"] == pytest.approx(lon, abs=1e-7)
    assert moved["override"]["location"] == {"lon": lon, "lat": lat, "crs": "gcj02"}
    assert moved["grid_id"] == "G2"  # the cell of the new place
    wgs = await api.get(f"/api/v1/cameras/{UID}")
    assert wgs["location"]["lon"] == pytest.approx(113.17, abs=1e-5)
    assert wgs["location"]["lat"] == pytest.approx(27.82, abs=1e-5)

    pinned = await api.patch({"grid_id": "G1"})
    assert (pinned["grid_id"], pinned["override"]["grid_id"]) == ("G1", "G1")

    cleared = await api.patch({"name": None, "location": None, "grid_id": None})
    assert cleared["override"] == {}
    assert (cleared["name"], cleared["grid_id"]) == ("建设路与红旗路交叉口", "G1")
    assert cleared["location"] == {"lon": 113.10, "lat": 27.80}


async def test_overrides_are_in_the_status_history_newest_first(api: Api) -> None:
    await api.patch({"name": "history"})
    await api.patch({"grid_id": "G2"})
    await api.patch({"name": None, "grid_id": None})
    events = await api.get(f"/api/v1/cameras/{UID}/events?limit=2")
    assert [e["reason"] for e in events["items"]] == ["override: grid, name", "override: grid"]
    assert set(events["items"][0]) == {"at", "status", "reason"}
    rest = await api.get(f"/api/v1/cameras/{UID}/events?limit=1&cursor={events['next_cursor']}")
    assert rest["items"][0]["reason"] == "override: name"
    assert rest["items"][0]["at"] <= events["items"][1]["at"] <= events["items"][0]["at"]
    bad = await api.client.get(f"/api/v1/cameras/{UID}/events?cursor=nonsense", headers=api.headers)
    assert bad.status == 400
    missing = await api.client.get("/api/v1/cameras/water:nope/events", headers=api.headers)
    assert missing.status == 404


async def test_every_bad_field_is_named(api: Api) -> None:
    assert await api.invalid({"address": "x", "name": 5}) == {
        "address": "unknown field; expected name, location, grid_id",
        "name": "expected 1 to 300 characters or null",
    }
    assert set(await api.invalid({})) == {"body"}
    assert await api.invalid({"location": {"lon": 200, "lat": "north", "alt": 1}}) == {
        "location.alt": "unknown field; expected lon and lat",
        "location.lon": "lon: expected a number from -180 to 180",
        "location.lat": "lat: expected a number",
    }
    assert set(await api.invalid({"location": {"lon": 1}})) == {"location.lat"}
    assert set(await api.invalid({"location": [1, 2]})) == {"location"}
    assert await api.invalid({"grid_id": "nope"}) == {"grid_id": "no grid cell 'nope'"}
    assert set(await api.invalid({"grid_id": "../G1"})) == {"grid_id"}
    assert set(await api.invalid({"name": "a\x00b"})) == {"name"}
    assert set(await api.invalid({"name": " " * 3})) == {"name"}
    assert set(await api.invalid({"name": "x"}, query="?crs=mars")) == {"crs"}


@pytest.mark.parametrize(
    ("data", "content_type", "status", "name"),
    [
        (b"{not json", "application/json", 400, "body"),
        (b"[1, 2]", "application/json", 400, "body"),
        (b"[" * 60_000, "application/json", 400, "body"),  # too deep for the parser
        (b"\xff\xfe\x00", "application/json", 400, "body"),
        (b'{"name": "x"}', "text/plain", 415, None),
        (b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}', "application/json", 413, None),
    ],
)
async def test_malformed_and_oversized_bodies_are_problems(
    api: Api, data: bytes, content_type: str, status: int, name: str | None
) -> None:
    response = await api.client.patch(
        f"/api/v1/cameras/{UID}",
        data=data,
        headers={**api.headers, "Content-Type": content_type},
    )
    assert response.status == status, await response.text()
    assert response.content_type == PROBLEM
    body = await response.json(content_type=None)
    if name is not None:
        assert [item["name"] for item in body["invalid_params"]] == [name]


async def test_a_merge_patch_media_type_is_accepted(api: Api) -> None:
    response = await api.client.patch(
        f"/api/v1/cameras/{UID}",
        data=b'{"name": null}',
        headers={**api.headers, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status == 200, await response.text()
