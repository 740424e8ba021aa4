"""Catalog reads besides cameras and snapshots, on SQLite and PostgreSQL: counts, audit, principals.

Counts and audit rows are read over `snapshot_catalog` (`tests.integration.catalog_rows`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from catalog.db import Catalog
from catalog.principals import (
    InvalidPrincipal,
    PrincipalExists,
    authenticate,
    create_principal,
    list_principals,
    revoke_principal,
)
from catalog.queries.audit import list_audit, record_access
from catalog.queries.stats import department_summaries, get_grid, grid_summaries, stats
from tests.integration.catalog_rows import T0, add_all, make_department, snapshot_catalog

# Counts


async def test_stats_departments_and_grids(catalog: Catalog) -> None:
    await snapshot_catalog(catalog)
    async with catalog.sessions() as session:
        answer = await stats(session, T0 + timedelta(minutes=4))
        grids = await grid_summaries(session)
        departments = await department_summaries(session)
        g2 = await get_grid(session, "G2")
        assert await get_grid(session, "nope") is None
    assert answer["cameras"] == {
        "total": 7, "online": 4, "degraded": 1, "offline": 1, "unknown": 1, "retired": 1
    }  # fmt: skip
    assert answer["snapshots"] == {"total": 7, "last_minute": 2}
    assert [d["id"] for d in answer["departments"]] == ["chengguan", "water"]
    assert answer["departments"][1]["cameras"]["retired"] == 1
    assert answer["departments"][1]["cameras"]["total"] == 4
    assert departments[0] == {
        "id": "chengguan",
        "name": "城管局",
        "cameras": {"total": 3, "online": 2, "degraded": 1, "offline": 0, "unknown": 0,
                    "retired": 0},
        "inventories": [],
    }  # fmt: skip
    assert grids["type"] == "FeatureCollection"
    assert [f["id"] for f in grids["features"]] == ["G1", "G2"]
    assert grids["features"][1] == g2
    assert g2 is not None
    assert g2["properties"]["cameras"] == {
        "total": 2, "online": 1, "degraded": 0, "offline": 1, "unknown": 0, "retired": 1
    }  # fmt: skip
    assert g2["properties"]["community"] == "西社区"
    assert g2["geometry"]["type"] == "Polygon"


# Audit


async def test_audit_rows_filter_and_page(catalog: Catalog) -> None:
    await snapshot_catalog(catalog)
    async with catalog.sessions() as session, session.begin():
        for i in range(5):
            await record_access(
                session,
                principal="alice" if i % 2 == 0 else "bob",
                role="operator",
                action="view_image",
                camera_uid="chengguan:a1" if i < 3 else "water:b1",
                snapshot_id=i,
                client="127.0.0.1",
                at=T0 + timedelta(seconds=i // 2),  # ties on `at`, broken by id
            )
    async with catalog.sessions() as session:
        seen: list[int | None] = []
        cursor = None
        while True:
            page = await list_audit(session, limit=2, cursor=cursor)
            seen.extend(e.snapshot_id for e in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [4, 3, 2, 1, 0]
        alice = await list_audit(session, principal="alice", limit=10)
        assert [e.snapshot_id for e in alice.items] == [4, 2, 0]
        camera = await list_audit(session, camera_uid="water:b1", limit=10)
        assert [e.snapshot_id for e in camera.items] == [4, 3]
        window = await list_audit(
            session, since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=2), limit=10
        )
        assert [e.snapshot_id for e in window.items] == [3, 2]


# Principals


async def test_principals_lifecycle(catalog: Catalog) -> None:
    await add_all(catalog, [make_department("water")])
    async with catalog.sessions() as session, session.begin():
        token = await create_principal(session, name="ops", role="operator")
        dept = await create_principal(
            session, name="water-desk", role="department", department_id="water"
        )
        old = await create_principal(session, name="old", role="admin", expires_at=T0)
    assert token.startswith("cg_")
    assert len(token) > 40
    async with catalog.sessions() as session:
        stored = await list_principals(session)
    assert [p.name for p in stored] == ["old", "ops", "water-desk"]
    assert all(token not in (p.token_hash, p.name) for p in stored)
    assert all(len(p.token_hash) == 64 for p in stored)
    async with catalog.sessions() as session, session.begin():
        ops = await authenticate(session, token)
        assert ops is not None
        assert (ops.name, ops.role, ops.department_id) == ("ops", "operator", None)
        desk = await authenticate(session, dept)
        assert desk is not None
        assert desk.department_id == "water"
        assert await authenticate(session, old) is None  # expired
        assert await authenticate(session, old, now=T0 - timedelta(seconds=1)) is not None
        assert await authenticate(session, token + "x") is None
        assert await authenticate(session, "not-a-token") is None
        assert await revoke_principal(session, "ops") is True
        assert await revoke_principal(session, "ops") is False
        assert await revoke_principal(session, "nobody") is False
        assert await authenticate(session, token) is None
    async with catalog.sessions() as session:
        with pytest.raises(PrincipalExists, match="'ops' already exists"):
            await create_principal(session, name="ops", role="operator")
        with pytest.raises(InvalidPrincipal, match="unknown role 'root'"):
            await create_principal(session, name="x", role="root")
        with pytest.raises(InvalidPrincipal, match="needs a department id"):
            await create_principal(session, name="x", role="department")
        with pytest.raises(InvalidPrincipal, match="only the department role"):
            await create_principal(session, name="x", role="admin", department_id="water")
        with pytest.raises(InvalidPrincipal, match="timezone-aware"):
            await create_principal(session, name="x", role="admin", expires_at=datetime(2030, 1, 1))
