"""Overview routes and the spec, on SQLite and PostgreSQL: grids, departments, stats,
the OpenAPI document, its docs page and the request metrics.

One app per engine serves the whole module (`env`, from `tests.integration.api_env`).
"""

from __future__ import annotations

import re

from api.routing import ROUTES
from catalog.crs import from_wgs84
from tests.integration.api_env import Env, call, ok, problem

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
