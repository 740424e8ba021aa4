"""The SQLite driver: one trip per statement (none for the API's reads), and the same answers
as aiosqlite's own cursors."""

from __future__ import annotations

import asyncio
import sqlite3
import time
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

    async def counted(
        self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

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


@pytest.fixture
async def inline(tmp_path: Path, catalog: Catalog) -> AsyncIterator[Catalog]:
    """The same file opened as the API opens it: SELECTs on the event loop's thread."""
    opened = open_catalog(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", sqlite_inline_reads=True)
    yield opened
    await opened.close()


async def test_the_apis_reads_make_no_trip_and_its_writes_do(
    inline: Catalog, trips: list[str]
) -> None:
    async with inline.sessions() as session:
        await session.execute(text("SELECT 1"))  # the pool's connection is made here
    trips.clear()
    async with inline.sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
        rows = (await session.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    assert trips == ["trip", "commit"]  # the INSERT and the commit; not the SELECT
    trips.clear()
    async with inline.engine.connect() as conn:
        rows = (await conn.execute(text("select name from t where id = :i"), {"i": 2})).all()
    assert [tuple(r) for r in rows] == [("b",)]
    assert trips == []


async def test_a_write_waiting_for_the_lock_blocks_no_read(tmp_path: Path, inline: Catalog) -> None:
    """Another process holds the write lock: the API's INSERT waits on its connection's
    thread while the event loop goes on answering reads, then lands once the lock is free."""
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (name) VALUES ('first')")

    async def insert() -> float:
        async with inline.sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t (name) VALUES ('second')"))
        return time.monotonic()

    writing = asyncio.create_task(insert())
    answered = []
    for _ in range(5):
        await asyncio.sleep(0.05)
        async with inline.engine.connect() as conn:
            answered.append((await conn.execute(text("SELECT count(*) FROM t"))).scalar_one())
        answered_at = time.monotonic()
    assert answered == [0] * 5  # reads went on, and saw no uncommitted row
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    landed_at = await asyncio.wait_for(writing, 10)
    assert landed_at > answered_at
    async with inline.engine.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["first", "second"]
