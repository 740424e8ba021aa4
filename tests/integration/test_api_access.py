"""The API's doors, on SQLite and PostgreSQL: tokens, parameters, unknown routes, a lost database.

One app per engine serves the whole module (`env`, from `tests.integration.api_env`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import ApiSettings, create_app
from api.auth import TokenCache
from api.context import Identity
from catalog.models import utcnow
from tests.integration.api_env import Env, bad_params, call, ok, problem

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


# Unknown routes and methods


async def test_unknown_routes_and_methods_are_problems(env: Env) -> None:
    await problem(await call(env, "/api/v1/nothing-here"), 404)
    response = await env.client.post("/api/v1/cameras")
    await problem(response, 405)
    assert "GET" in response.headers["Allow"]


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
