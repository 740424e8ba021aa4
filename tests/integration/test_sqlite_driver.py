"""The SQLite driver: one trip per statement, and the same answers as aiosqlite's own cursors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiosqlite
import pytest
from sqlalchemy import text

from catalog import sqlite_driver
from catalog.db import Catalog, open_catalog


@pytest.fixture
async def catalog(tmp_path: Path) -> AsyncIterator[Catalog]:
    opened = open_catalog(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    async with opened.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    yield opened
    await opened.close()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every call sent to a connection's thread, in order."""
    sent: list[str] = []
    original = cast(Callable[..., Awaitable[Any]], aiosqlite.Connection._execute)

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


async def test_the_engine_connects_through_the_prefetch_driver(catalog: Catalog) -> None:
    async with catalog.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_driver.PrefetchConnection)


async def test_a_read_session_costs_one_trip(catalog: Catalog, trips: list[str]) -> None:
    async with catalog.sessions() as session:
        await session.execute(text("SELECT 1"))  # the pool's connection is made here
    trips.clear()
    async with catalog.sessions() as session:
        rows = (await session.execute(text("SELECT 1, 'a' UNION ALL SELECT 2, 'b'"))).all()
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    # Execute and fetch in one trip; no cursor trips, and no rollback for a read.
    assert trips == ["trip"]


async def test_writes_commit_and_roll_back(catalog: Catalog, trips: list[str]) -> None:
    async with catalog.sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t (name) VALUES ('kept')"))
    async with catalog.sessions() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('dropped')"))
        trips.clear()
        await session.rollback()
        assert trips == ["rollback"]
    async with catalog.sessions() as session:
        names = (await session.execute(text("SELECT name FROM t"))).scalars().all()
    assert names == ["kept"]


async def test_row_counts_and_row_ids_are_those_of_sqlite(catalog: Catalog) -> None:
    async with catalog.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await conn.execute(
            text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}]
        )
        assert many.rowcount == 2
        returned = await conn.execute(
            text("UPDATE t SET name = upper(name) WHERE name != 'a' RETURNING id, name")
        )
        assert sorted(tuple(r) for r in returned.all()) == [(2, "B"), (3, "C")]
        updated = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id >= 2"))
        assert updated.rowcount == 2
        deleted = await conn.execute(text("DELETE FROM t WHERE id = 99"))
        assert deleted.rowcount == 0


async def test_cursor_fetches_answer_from_memory(tmp_path: Path) -> None:
    connection = await sqlite_driver.connect(tmp_path / "raw.db")
    try:
        cursor = await connection.cursor()
        await cursor.execute("SELECT value FROM json_each('[1, 2, 3, 4, 5]')")
        assert cursor.description is not None
        assert cursor.description[0][0] == "value"
        assert await cursor.fetchone() == (1,)
        assert list(await cursor.fetchmany(2)) == [(2,), (3,)]
        assert list(await cursor.fetchall()) == [(4,), (5,)]
        assert await cursor.fetchone() is None
        await cursor.execute("CREATE TABLE u (x)")
        assert cursor.description is None
        assert list(await cursor.fetchall()) == []
        async with connection.cursor() as entered:
            await entered.execute("SELECT 7")
            assert list(await entered.fetchall()) == [(7,)]
    finally:
        await connection.close()


async def test_an_error_reaches_the_caller_and_the_connection_goes_on(catalog: Catalog) -> None:
    async with catalog.sessions() as session:
        with pytest.raises(Exception, match="no such table: missing"):
            await session.execute(text("SELECT * FROM missing"))
    async with catalog.sessions() as session:
        assert (await session.execute(text("SELECT 42"))).scalar_one() == 42
