"""Bulk loading of a synthetic province into a migrated catalog, fast.

The schema is always the real one (`catalog.db.migrate` to head), so the
benchmark measures the indexes, triggers and side tables the migrations
create. Only the loading takes shortcuts: SQLite gets one big transaction of
`executemany` with synchronous writes off; PostgreSQL gets `COPY` through
asyncpg. The snapshot table's secondary indexes are dropped before its
millions of rows go in and rebuilt afterwards from their own definitions.
Statistics are gathered at the end (`ANALYZE`; `VACUUM ANALYZE` on
PostgreSQL, which also sets the visibility map that index-only scans need).
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg

from bench.province import Province, snapshot_columns
from catalog.db import json_text, migrate, open_catalog

__all__ = ["PG_ADMIN_DSN", "Loaded", "load_postgresql", "load_sqlite"]

PG_ADMIN_DSN: Final = "postgresql://postgres@127.0.0.1:5432/postgres"
NOW: Final = datetime(2024, 5, 1, tzinfo=UTC)

CAMERA_COLUMNS: Final = (
    "uid", "department_id", "camera_id", "name", "address", "lon", "lat", "orig_crs",
    "orig_lon", "orig_lat", "grid_id", "grid_from_config", "kind", "snapshot_target", "tags",
    "gb28181", "source", "interval_s", "timeout_s", "status", "status_reason", "status_since",
    "same_bytes_count", "failures", "next_due_at", "created_at", "updated_at",
)  # fmt: skip
SNAPSHOT_COLUMNS: Final = (
    "id", "camera_uid", "captured_at", "width", "height", "bytes", "sha256", "phash",
    "object_key", "thumb_key", "brightness", "sharpness", "flags",
)  # fmt: skip
CELL_COLUMNS: Final = (
    "grid_id", "name", "community", "street", "geometry", "min_lon", "min_lat", "max_lon",
    "max_lat",
)  # fmt: skip


@dataclass(frozen=True)
class Loaded:
    """A loaded catalog: its URL and what loading took."""

    url: str
    cameras: int
    snapshots: int
    load_s: float
    reused: bool


def _camera_row(c: dict[str, Any], when: Any) -> tuple[Any, ...]:
    return (
        c["uid"], c["department_id"], c["camera_id"], c["name"], c["address"], c["lon"],
        c["lat"], "wgs84", c["lon"], c["lat"], c["grid_id"], False, c["kind"],
        "http://192.0.2.1/snap.jpg", json_text(c["tags"]), None, "config",
        300.0, 10.0, c["status"], "", when, 0, 0, when, when, when,
    )  # fmt: skip


def _prefixes(province: Province) -> list[str]:
    return [f"{c['department_id']}/{c['camera_id']}" for c in province.cameras]


def _fingerprint(province: Province, snapshots: int) -> str:
    return f"camgrid-bench size={province.size} snapshots={snapshots} v=1"


def _sqlite_time(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}"


def _log(say: Callable[[str], None], what: str, started: float) -> None:
    say(f"{what} in {time.perf_counter() - started:.1f} s")


async def load_sqlite(
    province: Province, snapshots: int, folder: Path, say: Callable[[str], None], reuse: bool
) -> Loaded:
    """A SQLite catalog file under `folder` holding `province` and `snapshots` snapshots."""
    path = folder / f"bench-{province.size}.db"
    url = f"sqlite+aiosqlite:///{path}"
    marker = path.with_suffix(".done")
    if reuse and _sqlite_reusable(path, marker, _fingerprint(province, snapshots)):
        await _migrate(url)
        return Loaded(url, province.size, snapshots, 0.0, True)
    _sqlite_fresh(path, marker)
    started = time.perf_counter()
    await _migrate(url)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        _sqlite_bulk(db, province, snapshots, say)
    finally:
        db.close()
    marker.write_text(_fingerprint(province, snapshots))
    _log(say, f"sqlite {province.size}: loaded", started)
    return Loaded(url, province.size, snapshots, time.perf_counter() - started, False)


def _sqlite_reusable(path: Path, marker: Path, fingerprint: str) -> bool:
    return path.exists() and marker.exists() and marker.read_text() == fingerprint


def _sqlite_fresh(path: Path, marker: Path) -> None:
    for stale in (path, marker, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


def _sqlite_bulk(
    db: sqlite3.Connection, province: Province, snapshots: int, say: Callable[[str], None]
) -> None:
    # Bulk load without a journal (a crash only loses the benchmark's own file),
    # then back to WAL as the catalog runs.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-4000000")
    db.execute("PRAGMA temp_store=MEMORY")
    when = _sqlite_time(NOW)
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO departments (id, name, source_file, updated_at) VALUES (?, ?, '', ?)",
        [(d, name, when) for d, name in province.departments],
    )
    db.executemany(
        f"INSERT INTO grid_cells ({', '.join(CELL_COLUMNS)}) VALUES"
        f" ({', '.join('?' * len(CELL_COLUMNS))})",
        [tuple(cell[k] for k in CELL_COLUMNS) for cell in province.cells],
    )
    db.executemany(
        f"INSERT INTO cameras ({', '.join(CAMERA_COLUMNS)}) VALUES"
        f" ({', '.join('?' * len(CAMERA_COLUMNS))})",
        (_camera_row(c, when) for c in province.cameras),
    )
    db.execute("COMMIT")
    _log(say, f"sqlite {province.size}: {province.size} cameras", started)
    started = time.perf_counter()
    # Secondary indexes and triggers (the tally) go while the rows go in, then
    # come back from their own definitions; the tally is set once at the end.
    dropped = list(
        db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
            " AND tbl_name = 'snapshots' AND sql IS NOT NULL"
        )
    )
    db.execute("BEGIN")
    for kind, name, _ in dropped:
        db.execute(f'DROP {kind.upper()} "{name}"')
    uids, prefixes = province.uids, _prefixes(province)
    insert = (
        f"INSERT INTO snapshots ({', '.join(SNAPSHOT_COLUMNS)}) VALUES"
        f" ({', '.join('?' * len(SNAPSHOT_COLUMNS))})"
    )
    for chunk in snapshot_columns(province.size, snapshots):
        db.executemany(insert, chunk.rows(uids, prefixes))
    for _, _, sql in dropped:
        db.execute(sql)
    db.execute("UPDATE snapshot_tally SET n = (SELECT count(*) FROM snapshots) WHERE shard = 0")
    db.execute("COMMIT")
    _log(say, f"sqlite {province.size}: {snapshots} snapshots", started)
    started = time.perf_counter()
    db.execute("ANALYZE")
    db.execute("PRAGMA journal_mode=WAL")
    _log(say, f"sqlite {province.size}: ANALYZE", started)


async def _migrate(url: str) -> None:
    catalog = open_catalog(url)
    try:
        await migrate(catalog)
    finally:
        await catalog.close()


def pg_url(database: str) -> str:
    """The SQLAlchemy URL of a database on the benchmark's PostgreSQL server."""
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"


async def load_postgresql(
    province: Province, snapshots: int, say: Callable[[str], None], reuse: bool
) -> Loaded:
    """A PostgreSQL database `camgrid_bench_SIZE` holding `province` and its snapshots."""
    name = f"camgrid_bench_{province.size}"
    url = pg_url(name)
    fingerprint = _fingerprint(province, snapshots)
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
        if reuse and comment == fingerprint:
            await _migrate(url)
            return Loaded(url, province.size, snapshots, 0.0, True)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    started = time.perf_counter()
    await _migrate(url)
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        await _pg_bulk(conn, province, snapshots, say)
        await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{fingerprint}'")
    finally:
        await conn.close()
    _log(say, f"postgresql {province.size}: loaded", started)
    return Loaded(url, province.size, snapshots, time.perf_counter() - started, False)


def _csv(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """CSV for COPY; the generated values hold no comma, quote or newline."""
    lines = [
        f"{r[0]},{r[1]},{r[2]}+00,{r[3]},{r[4]},{r[5]},{r[6]},{r[7]},{r[8]},{r[9]},{r[10]},"
        f"{r[11]},{r[12]}\n"
        for r in rows
    ]
    return "".join(lines).encode()


async def _pg_bulk(
    conn: asyncpg.Connection, province: Province, snapshots: int, say: Callable[[str], None]
) -> None:
    await conn.execute("SET maintenance_work_mem = '1GB'")
    await conn.execute("SET synchronous_commit = off")
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "departments",
        records=[(d, name, "", NOW) for d, name in province.departments],
        columns=["id", "name", "source_file", "updated_at"],
    )
    await conn.copy_records_to_table(
        "grid_cells",
        records=[tuple(cell[k] for k in CELL_COLUMNS) for cell in province.cells],
        columns=list(CELL_COLUMNS),
    )
    await conn.copy_records_to_table(
        "cameras",
        records=[_camera_row(c, NOW) for c in province.cameras],
        columns=list(CAMERA_COLUMNS),
    )
    _log(say, f"postgresql {province.size}: {province.size} cameras", started)
    started = time.perf_counter()
    indexes = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = 'snapshots'"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
    )
    for row in indexes:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    uids, prefixes = province.uids, _prefixes(province)
    for chunk in snapshot_columns(province.size, snapshots):
        await conn.copy_to_table(
            "snapshots",
            source=io.BytesIO(_csv(chunk.rows(uids, prefixes))),
            columns=list(SNAPSHOT_COLUMNS),
            format="csv",
        )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('snapshots', 'id'), (SELECT max(id) FROM snapshots))"
    )
    _log(say, f"postgresql {province.size}: {snapshots} snapshots", started)
    started = time.perf_counter()
    for row in indexes:
        await conn.execute(row["indexdef"])
    _log(say, f"postgresql {province.size}: snapshot indexes", started)
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE")
    _log(say, f"postgresql {province.size}: VACUUM ANALYZE", started)
