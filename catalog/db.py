"""Opening the catalog database: engine, sessions, and migrations under a lock.

SQLite is the embedded default (WAL, one writer at a time, busy timeout);
PostgreSQL is the production engine. No engine is created at import time.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from catalog import sqlite_driver
from catalog.fair_pool import FairQueuePool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = 7_200_281  # pg_advisory_lock key held while migrating
SQLITE_MMAP_BYTES = 1 << 30  # address space, not memory: pages are the OS's cache


@dataclass(frozen=True)
class Catalog:
    """An open catalog: its engine and a session factory."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()


def resolve_url(url: str, base_dir: Path) -> str:
    """Make a relative SQLite path absolute against `base_dir` and create its folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_absolute():
            path = base_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Read the file through a memory map: an area+time search walks thousands
    # of index entries, and at province scale (a catalog of several GB) reading
    # them through the 2 MB page cache costs about three times as much.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def json_text(value: Any) -> str:
    """A JSON column's value as the catalog stores it: compact, and Chinese as itself.

    The list shape embeds the stored text of `tags` and `gb28181` as it is:
    with json.dumps' defaults a police camera's `gb28181` held its Chinese as
    `\\uXXXX` escapes, six bytes a character, and a page of them was 78 KB
    instead of 69.
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def create_engine(
    url: str,
    *,
    base_dir: Path | None = None,
    pool_size: int = 10,
    sqlite_connections: int | None = None,
    sqlite_inline_reads: bool = False,
) -> AsyncEngine:
    """An async engine for a catalog URL (`sqlite+aiosqlite:///…` or `postgresql+asyncpg://…`).

    PostgreSQL keeps `pool_size` connections and opens as many more for a
    burst; SQLite keeps `sqlite_connections` (default: both of those) and
    opens none beyond, and with `sqlite_inline_reads` runs a SELECT on the
    event loop's thread (`catalog.sqlite_driver`).
    """
    url = resolve_url(url, base_dir or Path.cwd())
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        database = make_url(url).database or ":memory:"
        engine = create_async_engine(
            url,
            # One trip to the connection's thread per statement (see sqlite_driver).
            async_creator=lambda: sqlite_driver.connect(
                database, inline_reads=sqlite_inline_reads, timeout=30
            ),
            json_serializer=json_text,
            json_deserializer=orjson.loads,
            # Every connection is a thread of aiosqlite's, always open: as many as
            # PostgreSQL's pool and overflow together, none opened beyond. Measured
            # with 32 concurrent searches (bench.api), connections opened and closed
            # beyond the pool cost more than the searches, and many threads spend
            # the CPU passing the interpreter lock between them: an API process
            # asks for a small pool (`api.app`); an ingest worker's polls need more.
            poolclass=FairQueuePool,
            pool_size=sqlite_connections or 2 * pool_size,
            max_overflow=0,
            pool_timeout=30.0,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_async_engine(
            url,
            poolclass=FairQueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            # JSON columns (tags, layers) are read on every row of a page.
            json_serializer=json_text,
            json_deserializer=orjson.loads,
            # A database that accepts connections but never answers must not hang
            # the API or a worker: give up and let the caller answer 503 / retry.
            pool_timeout=5.0,
            connect_args={
                "timeout": 5.0,
                "command_timeout": 30.0,
                # asyncpg prepares every statement, and after five runs PostgreSQL
                # may keep one generic plan for it. A search's parameters (a list of
                # candidates, a box, a page size) decide its best plan; a generic plan
                # of `uid = ANY($1) ... ORDER BY uid LIMIT $2` walks the uid index
                # through most of the table instead of looking the candidates up.
                "server_settings": {"plan_cache_mode": "force_custom_plan"},
            },
        )
    raise ValueError(f"unsupported database URL scheme {make_url(url).drivername!r}")


def open_catalog(
    url: str,
    *,
    base_dir: Path | None = None,
    pool_size: int = 10,
    sqlite_connections: int | None = None,
    sqlite_inline_reads: bool = False,
) -> Catalog:
    """Open (not migrate) the catalog at `url` (pools and reads as `create_engine` makes them)."""
    engine = create_engine(
        url,
        base_dir=base_dir,
        pool_size=pool_size,
        sqlite_connections=sqlite_connections,
        sqlite_inline_reads=sqlite_inline_reads,
    )
    return Catalog(engine, async_sessionmaker(engine, expire_on_commit=False))


def _alembic_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


@asynccontextmanager
async def _file_lock(path: Path) -> AsyncIterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


async def migrate(catalog: Catalog, revision: str = "head") -> None:
    """Run Alembic migrations to `revision`, holding a lock so concurrent starts are safe."""
    if catalog.dialect == "postgresql":
        async with catalog.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            try:
                await conn.run_sync(_alembic_upgrade, revision)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_MIGRATION_LOCK})
                await conn.commit()
        return
    database = catalog.engine.url.database or ""
    lock_path = Path(database + ".migrate.lock") if database else None
    if lock_path is None or database == ":memory:":
        async with catalog.engine.begin() as conn:
            await conn.run_sync(_alembic_upgrade, revision)
        return
    async with _file_lock(lock_path), catalog.engine.begin() as conn:
        await conn.run_sync(_alembic_upgrade, revision)
