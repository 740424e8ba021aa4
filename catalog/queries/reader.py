"""What a search reads through: an ORM session, or a plain connection.

A page of ORM rows (`camera_rows.DETAIL`) needs a session. Every other shape
reads plain rows, which a connection gives for less: no ORM result loading
and no session to open and close, about a tenth of a search's CPU.

`fetch_all` goes further on a connection that reads SQLite on the event
loop's thread (the API's, `catalog.sqlite_driver`): it runs the statement's
SQL, compiled once, straight on sqlite3. SQLAlchemy's own execution (its
cache key, result metadata and rows) cost a two-character search 0.16 ms
of its 0.96 ms in process. A statement whose parameters or columns need
SQLAlchemy (an expanding IN list, a column type that converts what it
reads) still goes through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from catalog.sqlite_driver import PrefetchConnection

__all__ = ["Reader", "connection_of", "dialect_of", "fetch_all"]

Reader: TypeAlias = AsyncSession | AsyncConnection

#: Statements remembered by `_plan_of` (the searches keep about this many of their own).
_COMPILED_KEPT = 2048


def dialect_of(db: Reader) -> str:
    """The name of the engine's dialect (`sqlite`, `postgresql`)."""
    if isinstance(db, AsyncSession):
        return db.get_bind().dialect.name
    return db.dialect.name


async def connection_of(db: Reader) -> AsyncConnection:
    """The connection `db` reads through (a session's, which begins one if it has none)."""
    if isinstance(db, AsyncSession):
        return await db.connection()
    return db


async def fetch_all(
    db: Reader, stmt: Select[*tuple[Any, ...]], params: Mapping[str, Any] | None = None
) -> Sequence[Sequence[Any]]:
    """Every row of `stmt` with `params`, each indexable by column position."""
    if isinstance(db, AsyncConnection) and db.dialect.name == "sqlite":
        here = await _inline_sqlite(db)
        plan = None if here is None else _plan_of(stmt, db.dialect)
        if here is not None and plan is not None:
            rows: list[Sequence[Any]] = here.execute(plan.sql, plan.values(params or {})).fetchall()
            return rows
    found: Sequence[Sequence[Any]] = (await db.execute(stmt, params)).all()
    return found


async def _inline_sqlite(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection under `conn`, if it reads on the event loop's thread."""
    sync = conn.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        driver = (await conn.get_raw_connection()).driver_connection
    else:
        # Held already: read without a trip into SQLAlchemy's greenlet (12 µs a statement).
        driver = sync.connection.driver_connection
    if isinstance(driver, PrefetchConnection) and driver.inline_reads:
        return driver._conn
    return None


@dataclass(frozen=True)
class _Plan:
    """A statement's SQL with its parameters in order: the bound ones, and those to give."""

    sql: str
    names: tuple[str, ...]
    bound: Mapping[str, Any]
    convert: Mapping[str, Callable[[Any], Any]]

    def values(self, given: Mapping[str, Any]) -> list[Any]:
        """The parameters in order: those given (as SQLAlchemy would, over bound ones)."""
        values = []
        for name in self.names:
            if name not in given:
                values.append(self.bound[name])
                continue
            convert = self.convert.get(name)
            values.append(given[name] if convert is None else convert(given[name]))
        return values


#: What `_plan_of` knows of a statement: seen once, its plan, or that SQLAlchemy runs it.
_ONCE: Final = "seen once"
_SQLALCHEMY: Final = "run by SQLAlchemy"
_SEEN: OrderedDict[tuple[Select[*tuple[Any, ...]], Dialect], _Plan | str] = OrderedDict()


def _plan_of(stmt: Select[*tuple[Any, ...]], dialect: Dialect) -> _Plan | None:
    """The plan of a statement seen before, or None (SQLAlchemy runs it).

    A statement is compiled here only when it comes again: one built for a
    single request (a box or a circle nobody asks for twice) is compiled by
    SQLAlchemy, whose cache serves every statement of the same form, where
    compiling it here would cost that request a whole compilation.
    """
    key = (stmt, dialect)
    seen = _SEEN.get(key)
    if seen is None:
        _SEEN[key] = _ONCE
        if len(_SEEN) > _COMPILED_KEPT:
            _SEEN.popitem(last=False)
        return None
    _SEEN.move_to_end(key)
    if seen == _ONCE:
        seen = _SEEN[key] = _plan(stmt, dialect) or _SQLALCHEMY
    return seen if isinstance(seen, _Plan) else None


def _plan(stmt: Select[*tuple[Any, ...]], dialect: Dialect) -> _Plan | None:
    """`stmt` compiled for sqlite3, or None where SQLAlchemy must run it."""
    compiled = stmt.compile(dialect=dialect)
    if "POSTCOMPILE" in compiled.string or compiled.positiontup is None:
        return None  # parameters only known at execution
    if any(c.type.result_processor(dialect, None) for c in stmt.selected_columns):
        return None  # a column that converts what it reads
    bound: dict[str, Any] = {}
    convert: dict[str, Callable[[Any], Any]] = {}
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        processor = bind.type.bind_processor(dialect)
        if processor is not None:
            convert[name] = processor
        if not bind.required:
            value = bind.effective_value
            bound[name] = value if processor is None or value is None else processor(value)
    return _Plan(compiled.string, tuple(compiled.positiontup), bound, convert)
