"""Camera search: filters that combine with AND, comma lists that mean OR, keyset pages.

The rules are those of `catalog.queries.camera_filters`; the order is by uid
(code points on both engines), or by distance then uid with `near`.

How a page is found at province scale (hundreds of thousands of cameras):

1. Every filter that an index can list candidates for (a `Driver`) is
   counted, capped just above its cap, in one round trip.
2. When the smallest count is within its cap, the search starts from that
   filter: its candidates are listed, sorted, and read in uid order in
   growing chunks, every condition applied, until the page is full.
3. Otherwise every filter matches many cameras, and the search walks the
   cameras in uid order (through a composite `(column, uid)` index when one
   filter is a single value, else through the covering walk index on
   SQLite), which stops as soon as the page is full.

`near` measures distances in Python (`haversine_m`, the same on both
engines): from the candidates when they are few, else over growing rings
(boxes that provably hold each circle, `near_box`) until a ring holds the
page. Either way the answer is exact; indexes only choose what is read.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, TypeAlias, TypeVar

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    case,
    func,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crs import haversine_m
from catalog.models import Camera
from catalog.queries.camera_filters import (
    CRS_MARGIN_DEG,
    PREFILTER_MOST,
    CameraFilter,
    Driver,
    LocationCheck,
    drivers,
    in_box,
    near_box,
    near_center,
    one_of,
    python_check,
    sql_conditions,
    unindexed,
)
from catalog.queries.camera_rows import (
    DETAIL,
    CameraPage,
    CameraRow,
    CellRef,
    RowShape,
    rows_select,
)
from catalog.queries.cursors import decode_cursor, encode_cursor
from catalog.queries.text import Candidates, escape_like, pg_text_estimate

__all__ = [
    "CRS_MARGIN_DEG",
    "CameraFilter",
    "CameraPage",
    "CameraRow",
    "CellRef",
    "escape_like",
    "find_cameras",
    "get_camera",
    "list_cameras",
    "matching_uids",
    "near_box",
]

# Rows fetched per round when a Python check may reject some of them.
_MIN_BATCH: Final = 500
# A walk merges the index ranges of at most this many values of one column.
_MERGE_MOST: Final = 32
# The first chunk of sorted candidates read in the candidate plan; each next one is 4x.
_FIRST_CHUNK: Final = 256

T = TypeVar("T")
# A row of `rows_select`: (uid, lon, lat, then the shape's columns).
_Row: TypeAlias = Any


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _uid_key(session: AsyncSession) -> SQLColumnExpression[str]:
    """Camera.uid compared by code point: SQLite's BINARY, PostgreSQL's "C" collation."""
    if _dialect(session) == "postgresql":
        return Camera.uid.collate("C")
    return Camera.uid


async def _drivers(session: AsyncSession, f: CameraFilter, *, boxes: bool = True) -> list[Driver]:
    dialect = _dialect(session)
    estimate = None
    if dialect == "postgresql" and f.q:
        estimate = await pg_text_estimate(session, f.q)
    return drivers(f, dialect, boxes=boxes, text_estimate=estimate)


async def _smallest(session: AsyncSession, found: Sequence[Driver]) -> _Counted:
    """Every driver's (capped) count, and the one with the fewest candidates within its cap."""
    if not found:
        return _Counted(None, {})
    counts = (await session.execute(select(*(d.candidates.count for d in found)))).one()
    counted = {d.name: int(c or 0) for c, d in zip(counts, found, strict=True)}
    within = [(counted[d.name], d) for d in found if counted[d.name] <= d.cap]
    return _Counted(min(within, key=lambda x: x[0])[1] if within else None, counted)


@dataclass(frozen=True)
class _Counted:
    best: Driver | None
    counts: dict[str, int]


def _packed_uids(dialect: str, driver: Driver) -> ScalarSelect[Any]:
    """The driver's candidates aggregated into one value (a JSON array on SQLite, an
    array on PostgreSQL): thousands of one-column rows cost more to fetch one by
    one than to find."""
    uid = driver.candidates.uids.subquery().c[0]
    aggregate = func.json_group_array(uid) if dialect == "sqlite" else func.array_agg(uid)
    return select(aggregate).scalar_subquery()


def _unpacked(dialect: str, packed: Any, after: str | None) -> list[str]:
    """Packed candidates in uid (code point) order, after `after`."""
    listed: list[str] = json.loads(packed or "[]") if dialect == "sqlite" else packed or []
    uids = sorted(set(listed))
    return uids if after is None else uids[bisect_right(uids, after) :]


async def _candidate_uids(session: AsyncSession, driver: Driver, after: str | None) -> list[str]:
    """The driver's candidates in uid (code point) order, after `after`."""
    dialect = _dialect(session)
    packed = await session.scalar(select(_packed_uids(dialect, driver)))
    return _unpacked(dialect, packed, after)


async def _sole_driver(
    session: AsyncSession, driver: Driver, after: str | None
) -> tuple[_Counted, list[str]]:
    """`_smallest` and `_candidate_uids` for one driver, in one statement.

    The candidates are listed only when their count is within the cap (a
    CASE evaluates its branch only when taken): a filter that matches many
    cameras costs its capped count, as in `_smallest`.
    """
    dialect = _dialect(session)
    count = select(driver.candidates.count.label("n")).subquery()
    within = count.c.n <= driver.cap
    stmt = select(count.c.n, case((within, _packed_uids(dialect, driver)), else_=None))
    n, packed = (await session.execute(stmt)).one()
    counted = {driver.name: int(n or 0)}
    if counted[driver.name] > driver.cap:
        return _Counted(None, counted), []
    return _Counted(driver, counted), _unpacked(dialect, packed, after)


async def list_cameras(
    session: AsyncSession, f: CameraFilter, *, limit: int, cursor: str | None = None
) -> CameraPage[CameraRow]:
    """The page of cameras (ORM rows with their cells) matching `f` after `cursor`."""
    return await find_cameras(session, f, DETAIL, limit=limit, cursor=cursor)


async def find_cameras(
    session: AsyncSession,
    f: CameraFilter,
    shape: RowShape[T],
    *,
    limit: int,
    cursor: str | None = None,
) -> CameraPage[T]:
    """The page of cameras matching `f` after `cursor`, read as `shape`.

    See the module doc for the rules. Raises `InvalidCursor` for a cursor
    this ordering did not hand out.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if f.near is not None:
        return await _list_near(session, f, shape, limit=limit, cursor=cursor)
    after = None if cursor is None else str(decode_cursor(cursor, "uid", (str,))[0])
    dialect = _dialect(session)
    found_drivers = await _drivers(session, f)
    check = python_check(f)
    read = _Reader(session, check, limit, shape)
    # Only column filters, one of them a single value: walking that value's
    # (column, uid) index is never worse than listing its cameras. Otherwise
    # count the candidates of each filter first.
    obvious = all(d.column is not None for d in found_drivers) and any(
        d.ordered for d in found_drivers
    )
    uids: list[str] = []
    if obvious:
        counted = _Counted(None, {})
    elif len(found_drivers) == 1:
        counted, uids = await _sole_driver(session, found_drivers[0], after)
    else:
        counted = await _smallest(session, found_drivers)
        if counted.best is not None:
            uids = await _candidate_uids(session, counted.best, after)
    if counted.best is not None:
        # On SQLite the other conditions stay off their indexes: the chunk of
        # uids is where each read starts.
        conds = sql_conditions(f, dialect, index_free=dialect == "sqlite")
        found = await read.candidates(uids, conds)
    else:
        # A walk still keeps to the candidates of text and tags when they are
        # few enough to hold (a membership test instead of reading each row).
        keep_to = [
            d.candidates
            for d in found_drivers
            if d.prefilter and counted.counts.get(d.name, PREFILTER_MOST + 1) <= PREFILTER_MOST
        ]
        found = await read.walk(f, found_drivers, after, keep_to)
    items = [shape.make(row, None) for row in found[:limit]]
    if len(found) > limit:
        return CameraPage(items, encode_cursor("uid", found[limit - 1][0]))
    return CameraPage(items, None)


class _Reader:
    """Reads the rows of matching cameras in uid order until `limit + 1`, in batches."""

    def __init__(
        self,
        session: AsyncSession,
        check: LocationCheck | None,
        limit: int,
        shape: RowShape[Any],
    ) -> None:
        self.session = session
        self.check = check
        self.limit = limit
        self.shape = shape
        self.key = _uid_key(session)

    def _keep(self, rows: Sequence[_Row]) -> list[_Row]:
        check = self.check
        return list(rows) if check is None else [r for r in rows if check(r[1], r[2])]

    async def candidates(self, uids: list[str], conds: list[ColumnElement[bool]]) -> list[_Row]:
        """Matches among sorted candidate uids, read in growing chunks.

        Without a location check the SQL decides every condition: a chunk's
        matches are read in full at once, no more than the page still needs.
        With one, each chunk is first decided on (uid, lon, lat) alone, which
        on SQLite the covering walk index answers for most conditions without
        reading rows; only the page's own rows are then read in full.
        """
        dialect = _dialect(self.session)
        check = self.check
        found: list[_Row] = []
        kept: list[str] = []
        start, size = 0, _FIRST_CHUNK
        while start < len(uids) and len(found) + len(kept) <= self.limit:
            chunk = uids[start : start + size]
            start, size = start + size, size * 4
            member = one_of(dialect, Camera.uid, chunk)
            if check is None:
                full = rows_select(self.shape).where(member, *conds).order_by(self.key)
                page = full.limit(self.limit + 1 - len(found))
                found.extend((await self.session.execute(page)).all())
                continue
            light = _light_select([member, *conds]).order_by(self.key)
            rows = (await self.session.execute(light)).all()
            kept.extend(uid for uid, lon, lat in rows if check(lon, lat))
        if check is None or not kept:
            return found
        stmt = (
            rows_select(self.shape)
            .where(one_of(dialect, Camera.uid, kept[: self.limit + 1]))
            .order_by(self.key)
        )
        return list((await self.session.execute(stmt)).all())

    async def walk(
        self,
        f: CameraFilter,
        found_drivers: Sequence[Driver],
        after: str | None,
        keep_to: Sequence[Candidates] = (),
    ) -> list[_Row]:
        """Matches in uid order from `after`.

        No filter is rare here. When one is a list of values of an indexed
        column, the walk follows that column's `(column, uid)` index: one
        range per value, merged (a list's values are far apart in uid order,
        as a department's uids all start with its id). Otherwise it follows
        the uids themselves; on SQLite the conditions are written off their
        indexes (`index_free`) so that the covering walk index serves the
        order and decides them without reading rows.
        """
        dialect = _dialect(self.session)
        key = self.key
        batch = self.limit + 1 if self.check is None else max(4 * (self.limit + 1), _MIN_BATCH)
        conds = sql_conditions(f, dialect, index_free=dialect == "sqlite")
        # Supersets of the answer, tested per row against a set built once,
        # never a place to start from: `+uid` on SQLite; on PostgreSQL `IS
        # TRUE` keeps the test a hashed subplan instead of a join to sort.
        if dialect == "sqlite":
            conds += [unindexed(Camera.uid).in_(c.uids) for c in keep_to]
        else:
            conds += [Camera.uid.in_(c.uids).is_(true()) for c in keep_to]
        columns = [d for d in found_drivers if d.column is not None]
        by = next((d for d in columns if d.ordered), columns[0] if columns else None)
        if by is not None and len(by.values) > _MERGE_MOST:
            by = None
        found: list[_Row] = []
        while len(found) <= self.limit:
            past = [] if after is None else [key > after]
            if by is None:
                stmt = rows_select(self.shape).where(*conds, *past)
            elif by.ordered:
                stmt = rows_select(self.shape).where(by.column == by.values[0], *conds, *past)
            else:
                ranges = [
                    select(Camera.uid)
                    .where(by.column == value, *conds, *past)
                    .order_by(key)
                    .limit(batch)
                    .subquery()
                    for value in by.values
                ]
                merged = union_all(*(select(r.c.uid) for r in ranges))
                stmt = rows_select(self.shape).where(Camera.uid.in_(merged))
            rows = (await self.session.execute(stmt.order_by(key).limit(batch))).all()
            found.extend(self._keep(rows))
            if len(rows) < batch:
                break
            after = rows[-1][0]
        return found


# near: distances measured in Python, from candidates or over growing rings.

Measured = tuple[float, str]


def _light_select(conds: Sequence[ColumnElement[bool]]) -> Select[str, float | None, float | None]:
    return select(Camera.uid, Camera.lon, Camera.lat).where(*conds)


class _Circle:
    """Distances from a centre, kept when within the radius and past the cursor."""

    def __init__(self, f: CameraFilter, after: Measured | None) -> None:
        self.lon, self.lat = near_center(f)
        self.radius = f.radius_m or 0.0
        self.check = python_check(f, near=False)
        self.after = after

    def measure(self, rows: Sequence[Any], within: float) -> list[Measured]:
        """(distance, uid) of the rows within `within` metres (and the radius), past the cursor."""
        out: list[Measured] = []
        limit = min(within, self.radius)
        for uid, lon, lat in rows:
            if lon is None or lat is None:
                continue
            if self.check is not None and not self.check(lon, lat):
                continue
            d = haversine_m(self.lon, self.lat, lon, lat)
            if d <= limit and (self.after is None or (d, uid) > self.after):
                out.append((d, uid))
        return out


async def _list_near(
    session: AsyncSession, f: CameraFilter, shape: RowShape[T], *, limit: int, cursor: str | None
) -> CameraPage[T]:
    """The page of cameras within the circle, by (distance, uid), after `cursor`."""
    after: Measured | None = None
    if cursor is not None:
        d, uid = decode_cursor(cursor, "near", (float, str))
        after = (float(d), str(uid))
    circle = _Circle(f, after)
    # Every condition but the circle's box (each ring adds its own), on SQLite
    # kept off their indexes: the rings start at the box, candidates at their uids.
    sqlite = _dialect(session) == "sqlite"
    conds = sql_conditions(
        replace(f, near=None, radius_m=None), _dialect(session), index_free=sqlite
    )
    # A box is read ring by ring; another filter is the start only when it is rare.
    best = (await _smallest(session, await _drivers(session, f, boxes=False))).best
    if best is not None:
        uids = list(set(await session.scalars(best.candidates.uids)))
        box = in_box(near_box(circle.lon, circle.lat, circle.radius), index_free=sqlite)
        member = one_of(_dialect(session), Camera.uid, uids)
        rows = (await session.execute(_light_select([member, *conds, *box]))).all()
        measured = circle.measure(rows, circle.radius)
    else:
        measured = await _rings(session, circle, conds, limit)
    measured.sort()
    page = measured[:limit]
    items = await _rows_in_order(session, page, shape)
    if len(measured) > limit:
        return CameraPage(items, encode_cursor("near", *page[-1]))
    return CameraPage(items, None)


async def _rings(
    session: AsyncSession, circle: _Circle, conds: list[ColumnElement[bool]], limit: int
) -> list[Measured]:
    """Matches within growing radii from the cursor's distance, until one holds `limit + 1`.

    Every match within a ring's radius lies in the ring's box, so once a ring
    holds `limit + 1` matches past the cursor they are the next ones overall.
    """
    inner = 0.0 if circle.after is None else circle.after[0]
    step = max(circle.radius / 64, 50.0)
    while True:
        within = min(inner + step, circle.radius)
        box = in_box(near_box(circle.lon, circle.lat, within))
        rows = (await session.execute(_light_select([*conds, *box]))).all()
        measured = circle.measure(rows, within)
        if len(measured) > limit or within >= circle.radius:
            return measured
        # Area grows with the square of the radius: aim at twice the page.
        growth = (2 * (limit + 1) / max(len(measured), 1)) ** 0.5
        step *= min(max(growth, 2.0), 8.0)


async def _rows_in_order(
    session: AsyncSession, page: list[Measured], shape: RowShape[T]
) -> list[T]:
    if not page:
        return []
    stmt = rows_select(shape).where(one_of(_dialect(session), Camera.uid, [uid for _, uid in page]))
    by_uid = {r[0]: r for r in (await session.execute(stmt)).all()}
    return [shape.make(by_uid[uid], d) for d, uid in page if uid in by_uid]


async def matching_uids(session: AsyncSession, f: CameraFilter) -> list[str] | None:
    """Every uid matching `f` (any order), or None when no filter is rare enough to list them.

    The list holds at most a few thousand uids (the drivers' caps).
    """
    best = (await _smallest(session, await _drivers(session, f))).best
    if best is None:
        return None
    dialect = _dialect(session)
    conds = sql_conditions(f, dialect, index_free=dialect == "sqlite")
    # SQLite starts where it is told (the other terms are off their indexes);
    # PostgreSQL plans a column or box filter itself, but needs the candidates
    # of text or tags, whose exact terms no index serves.
    if dialect == "sqlite" or (best.column is None and best.name not in ("bbox", "near")):
        conds.append(Camera.uid.in_(best.candidates.uids))
    rows = (await session.execute(_light_select(conds))).all()
    check = python_check(f)
    return [uid for uid, lon, lat in rows if check is None or check(lon, lat)]


async def get_camera(session: AsyncSession, uid: str) -> CameraRow | None:
    """One camera with its cell, whatever its status; None when there is no such uid."""
    row = (await session.execute(rows_select(DETAIL).where(Camera.uid == uid))).first()
    return None if row is None else DETAIL.make(row, None)
