"""aiosqlite connections whose statements cost one trip to the connection's thread.

aiosqlite runs each sqlite3 call on the connection's own thread, and each
call is a trip: queue the call, wake the thread, wake the event loop with
the answer. SQLAlchemy's aiosqlite dialect makes four per statement (make a
cursor, execute, fetch every row, close the cursor), and a trip costs about
as much CPU as a small indexed query (0.1 ms): most of what a search spent
in its statements.

`PrefetchConnection` makes them one. Its cursors make their sqlite3 cursor,
execute, fetch every row and close it in a single trip, then answer the
fetches from memory. SQLAlchemy fetches every row of a (non-streamed)
statement anyway, straight after executing it; camgrid streams none. A
commit or rollback with no transaction open (after a read) costs no trip.

A connection made with `inline_reads` (the API's) makes no trip for a
SELECT: it runs on the event loop's thread. With a core to spare, the trip
cost a search 25-45% of its CPU, nearly all in the kernel waking one thread
for the other (one API process under bench.api: 1.67 against 1.28 ms a
two-character search, 1.54 against 1.01 a department's); with every core
busy, about 3%. A SELECT never waits for a lock here: in WAL mode readers
wait neither for the writer nor for each other. Anything that may write,
and so wait for ingest's write lock (up to the busy timeout), still goes to
the connection's thread, where waiting blocks no other request.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import aiosqlite

__all__ = ["PrefetchConnection", "PrefetchCursor", "connect"]

_Description = tuple[tuple[str, None, None, None, None, None, None], ...]
# A statement's rows, description, row count and last row id, as one trip brings them back.
_Fetched = tuple[list[Any], Any, int, int | None]


class PrefetchCursor(aiosqlite.Cursor):
    """A cursor whose `execute` brings back every row in the same trip.

    `description`, `rowcount` and `lastrowid` are those of the last
    statement, read on the thread once its rows were all fetched (when
    sqlite3 has counted a `RETURNING` statement's rows).
    """

    def __init__(self, conn: PrefetchConnection) -> None:
        # No sqlite3 cursor is kept between trips: each execute makes its own.
        self.iter_chunk_size = conn._iter_chunk_size
        self._conn = conn
        self._inline_reads = conn.inline_reads
        self._rows: deque[Any] = deque()
        self._description: _Description | None = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    def __await__(self) -> Generator[Any, None, PrefetchCursor]:
        """`await connection.cursor()` works as with aiosqlite: the cursor is ready at once."""
        yield from ()
        return self

    async def _run(self, call: Callable[[sqlite3.Cursor], object]) -> PrefetchCursor:
        connection = self._conn._conn

        def trip() -> _Fetched:
            return _fetched(connection, call)

        run = cast(Callable[[Callable[[], _Fetched]], Awaitable[_Fetched]], self._conn._execute)
        return self._keep(await run(trip))

    def _run_here(self, call: Callable[[sqlite3.Cursor], object]) -> PrefetchCursor:
        """`_run` on the calling thread (the event loop's), for a statement that only reads."""
        return self._keep(_fetched(self._conn._conn, call))

    def _keep(self, fetched: _Fetched) -> PrefetchCursor:
        rows, self._description, self._rowcount, self._lastrowid = fetched
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Any = None) -> PrefetchCursor:
        """Execute `sql` and fetch all its rows, in one trip."""
        params = () if parameters is None else parameters
        if self._inline_reads and _only_reads(sql):
            return self._run_here(lambda cursor: cursor.execute(sql, params))
        return await self._run(lambda cursor: cursor.execute(sql, params))

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> PrefetchCursor:
        """Execute `sql` once per parameter set, in one trip."""
        return await self._run(lambda cursor: cursor.executemany(sql, parameters))

    async def executescript(self, sql_script: str) -> PrefetchCursor:
        """Execute a script, in one trip."""
        return await self._run(lambda cursor: cursor.executescript(sql_script))

    async def fetchone(self) -> Any:
        """The next row, or None."""
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        """Up to `size` (default `arraysize`) of the remaining rows."""
        count = min(self._arraysize if size is None else size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> Sequence[Any]:
        """Every remaining row."""
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        """Drop the remaining rows (the sqlite3 cursor was closed on the thread)."""
        self._rows.clear()

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def description(self) -> _Description:
        # sqlite3 gives None for a statement without rows; so does this.
        return self._description  # type: ignore[return-value]


def _fetched(connection: sqlite3.Connection, call: Callable[[sqlite3.Cursor], object]) -> _Fetched:
    """Run `call` on a new sqlite3 cursor and fetch every row, then close the cursor."""
    cursor = connection.cursor()
    try:
        call(cursor)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _only_reads(sql: str) -> bool:
    """A plain SELECT (a WITH may hold an INSERT; anything else may write)."""
    return sql.lstrip()[:6].upper() == "SELECT"


class PrefetchConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are `PrefetchCursor`s."""

    #: Whether a SELECT runs on the event loop's thread instead of the connection's.
    inline_reads = False

    def cursor(self) -> PrefetchCursor:  # type: ignore[override]
        """A cursor, to await or to enter as aiosqlite's are; making it costs no trip."""
        return PrefetchCursor(self)

    def _idle(self) -> bool:
        # Read between statements (SQLAlchemy runs one at a time per
        # connection): no call is running on the thread.
        return self._connection is not None and not self._connection.in_transaction

    async def commit(self) -> None:
        """Commit the open transaction; with none open (a read) there is nothing to send."""
        if not self._idle():
            await super().commit()

    async def rollback(self) -> None:
        """Roll back the open transaction; with none open (a read) there is nothing to send.

        A session that only read ends with two rollbacks (the session's, then
        the pool's reset): trips that would cost a search as much as a query.
        """
        if not self._idle():
            await super().rollback()


def connect(path: Path | str, *, inline_reads: bool = False, **kwargs: Any) -> PrefetchConnection:
    """A `PrefetchConnection` to the SQLite file at `path` (await it to open).

    Statements run on the connection's thread, or with `inline_reads` a
    SELECT on the event loop's, never two at once (SQLAlchemy runs one at a
    time per connection); the event loop also reads whether a transaction
    is open, between statements (`check_same_thread` would refuse all that).
    """

    def connector() -> sqlite3.Connection:
        connection = sqlite3.connect(str(path), check_same_thread=False, **kwargs)
        return cast(sqlite3.Connection, connection)

    connection = PrefetchConnection(connector, iter_chunk_size=64)
    connection.inline_reads = inline_reads
    # As SQLAlchemy's dialect does: a forgotten connection must not keep the process alive.
    connection._thread.daemon = True
    return connection
