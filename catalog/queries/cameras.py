"""Camera search: filters that combine with AND, comma lists that mean OR, keyset pages.

The rules are those of `catalog.queries.camera_filters`; the order is by uid
(code points on both engines), or by distance then uid with `near`.

How a page is found at province scale (hundreds of thousands of cameras):

1. Every filter that an index can list candidates for (a `Driver`) is
   counted, capped just above its cap, in one round trip.
2. When the smallest count is within its cap (scaled to the catalog's size
   and the page, `SearchCaps`), the search starts from that filter: its
   candidates are listed, sorted, and read in uid order in growing chunks,
   every condition applied, until the page is full.
3. Otherwise every filter matches many cameras, and the search walks the
   cameras in uid order (through a composite `(column, uid)` index when one
   filter is a single value, else through the covering walk index on
   SQLite), which stops as soon as the page is full.

`near` measures distances in Python (`haversine_m`, the same on both
engines): from the candidates when they are few, else over growing rings
(boxes that provably hold each circle, `near_box`) until a ring holds the
page. Either way the answer is exact; indexes only choose what is read.

The statements are built by `catalog.queries.camera_statements`, once per
distinct search: a repeated search costs its execution only.
"""

from __future__ import annotations

import json
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, TypeVar

from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crs import haversine_m
from catalog.models import Camera
from catalog.queries.camera_drivers import Driver, SearchCaps, walks_at_once
from catalog.queries.camera_filters import (
    CRS_MARGIN_DEG,
    CameraFilter,
    LocationCheck,
    bound_values,
    near_box,
    near_center,
    python_check,
    sql_conditions,
)
from catalog.queries.camera_rows import (
    DETAIL,
    CameraPage,
    CameraRow,
    CellRef,
    RowShape,
    rows_select,
)
from catalog.queries.camera_statements import (
    Search,
    box_params,
    candidates_select,
    chunk_select,
    circle_box_select,
    counts_select,
    light_select,
    listed_select,
    members_select,
    sole_select,
    walk_select,
)
from catalog.queries.cursors import decode_cursor, encode_cursor
from catalog.queries.reader import Reader, connection_of, dialect_of, fetch_all
from catalog.queries.text import escape_like, pg_text_estimate

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
# The first ring of `near` reaches this far past the cursor (or to the radius).
FIRST_RING_M: Final = 1000.0
# The first chunk of sorted candidates read in the candidate plan; each next one is 4x.
_FIRST_CHUNK: Final = 256
# How long a connection keeps the catalog's size (it only chooses plans).
_SIZE_TTL_S: Final = 30.0
_SIZE_KEY: Final = "camgrid_catalog_size"

T = TypeVar("T")
# A row of `rows_select`: (uid, lon, lat, then the shape's columns).
_Row: TypeAlias = Any


async def _search(session: Reader, f: CameraFilter, *, boxes: bool = True) -> Search:
    dialect = dialect_of(session)
    estimate = None
    if dialect == "postgresql" and f.q:
        estimate = await pg_text_estimate(session, f.q)
    return Search.of(f, dialect, boxes, estimate)


async def catalog_size(session: Reader) -> int | None:
    """About how many cameras the catalog holds (retired ones too), or None if unknown.

    Read once per connection every `_SIZE_TTL_S` seconds, from what costs
    nothing to read: SQLite's largest rowid (rows are upserted in place, so
    at least the count), PostgreSQL's statistics (None before the first
    ANALYZE).
    """
    conn = await connection_of(session)
    kept: tuple[float, int | None] | None = conn.info.get(_SIZE_KEY)
    now = time.monotonic()
    if kept is not None and now - kept[0] < _SIZE_TTL_S:
        return kept[1]
    if dialect_of(session) == "sqlite":
        read = "SELECT max(rowid) FROM cameras"
    else:
        read = "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('cameras')"
    value = await session.scalar(sql_text(read))
    size = None if value is None or value < 0 else int(value)
    conn.info[_SIZE_KEY] = (now, size)
    return size


#: The caps as measured, for searches that don't scale them (`_list_near`, `matching_uids`).
_MEASURED_CAPS: Final = SearchCaps()


async def _smallest(session: Reader, search: Search, caps: SearchCaps = _MEASURED_CAPS) -> _Counted:
    """Every driver's (capped) count, and the one with the fewest candidates within its cap."""
    found = search.drivers
    if not found:
        return _Counted(None, {})
    (counts,) = await fetch_all(session, counts_select(search), search.params())
    counted = {d.name: int(c or 0) for c, d in zip(counts, found, strict=True)}
    within = [(counted[d.name], d) for d in found if counted[d.name] <= caps.cap(d)]
    return _Counted(min(within, key=lambda x: x[0])[1] if within else None, counted)


@dataclass(frozen=True)
class _Counted:
    best: Driver | None
    counts: dict[str, int]


def _unpacked(dialect: str, packed: Any, after: str | None) -> list[str]:
    """Packed candidates in uid (code point) order, after `after`."""
    listed: list[str] = json.loads(packed or "[]") if dialect == "sqlite" else packed or []
    uids = sorted(set(listed))
    return uids if after is None else uids[bisect_right(uids, after) :]


async def _candidate_uids(
    session: Reader, search: Search, driver: Driver, after: str | None
) -> list[str]:
    """The candidates of the search's `driver` in uid (code point) order, after `after`."""
    stmt = candidates_select(search, driver.name)
    ((packed,),) = await fetch_all(session, stmt, search.params())
    return _unpacked(search.dialect, packed, after)


async def _sole_driver(
    session: Reader, search: Search, caps: SearchCaps, after: str | None
) -> tuple[_Counted, list[str]]:
    """`_smallest` and `_candidate_uids` for a search with one driver, in one statement."""
    (driver,) = search.drivers
    cap = caps.cap(driver)
    ((n, packed),) = await fetch_all(session, sole_select(search), search.params({"cap": cap}))
    counted = {driver.name: int(n or 0)}
    if counted[driver.name] > cap:
        return _Counted(None, counted), []
    return _Counted(driver, counted), _unpacked(search.dialect, packed, after)


async def list_cameras(
    session: AsyncSession, f: CameraFilter, *, limit: int, cursor: str | None = None
) -> CameraPage[CameraRow]:
    """The page of cameras (ORM rows with their cells) matching `f` after `cursor`."""
    return await find_cameras(session, f, DETAIL, limit=limit, cursor=cursor)


async def find_cameras(
    session: Reader,
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
    if shape.orm and not isinstance(session, AsyncSession):
        raise TypeError("a shape of ORM rows is read through a session, not a connection")
    if f.near is not None:
        return await _list_near(session, f, shape, limit=limit, cursor=cursor)
    after = None if cursor is None else str(decode_cursor(cursor, "uid", (str,))[0])
    search = await _search(session, f)
    found_drivers = search.drivers
    check = python_check(f)
    read = _Reader(session, check, limit, shape)
    # Walk at once where that is never worse than listing (`walks_at_once`);
    # otherwise count the candidates of each filter first.
    obvious = walks_at_once(found_drivers)
    uids: list[str] = []
    caps = SearchCaps()
    # SQLite reads a lone text's candidates straight from its index, in uid
    # order: no list of them comes back to be sorted and sent again.
    text_alone = (
        search.dialect == "sqlite" and check is None and [d.name for d in found_drivers] == ["q"]
    )
    if obvious:
        counted = _Counted(None, {})
    else:
        caps = SearchCaps.of_search(await catalog_size(session), limit + 1)
        if text_alone:
            # Most texts have few candidates: their page is read at once, and
            # only a text without one (none, too many, or past the last) is counted.
            (text_driver,) = found_drivers
            if text_driver.candidates.few is not None:
                few_most = caps.cap(text_driver)
                found = await _text_listed(session, search, shape, after, limit, few_most)
                if found:
                    return _page(shape, found, limit)
            counted = await _smallest(session, search, caps)
        elif len(found_drivers) == 1:
            counted, uids = await _sole_driver(session, search, caps, after)
        else:
            counted = await _smallest(session, search, caps)
            if counted.best is not None:
                uids = await _candidate_uids(session, search, counted.best, after)
    best = counted.best
    if best is not None and text_alone:
        found = await _text_listed(session, search, shape, after, limit, None)
    elif best is not None:
        text_decided = best.name == "q" and best.candidates.exact
        found = await read.candidates(search, uids, text_decided)
    else:
        # A walk still keeps to the candidates of text and tags when they are
        # few enough to hold (a membership test instead of reading each row).
        most = caps.prefilter_most
        keep_to = tuple(
            d.name
            for d in found_drivers
            if d.prefilter and counted.counts.get(d.name, most + 1) <= most
        )
        found = await read.walk(search, after, keep_to)
    return _page(shape, found, limit)


def _page(shape: RowShape[T], found: Sequence[_Row], limit: int) -> CameraPage[T]:
    """The page of the first `limit` of `found` (read up to `limit + 1`, in uid order)."""
    items = [shape.make(row, None) for row in found[:limit]]
    if len(found) > limit:
        return CameraPage(items, encode_cursor("uid", found[limit - 1][0]))
    return CameraPage(items, None)


async def _text_listed(
    session: Reader,
    search: Search,
    shape: RowShape[Any],
    after: str | None,
    limit: int,
    few_most: int | None,
) -> list[_Row]:
    """Up to `limit + 1` matches of a lone text from its candidates, after `after` (SQLite);
    with `few_most`, none when it has more candidates than that (`Candidates.few`)."""
    exact = search.driver("q").candidates.exact
    few = few_most is not None
    stmt = listed_select(search, shape, after is not None, limit + 1, exact, few)
    given: dict[str, Any] = {} if after is None else {"after": after}
    if few_most is not None:
        given["few_most"] = few_most
    return list(await fetch_all(session, stmt, search.params(given)))


class _Reader:
    """Reads the rows of matching cameras in uid order until `limit + 1`, in batches."""

    def __init__(
        self,
        session: Reader,
        check: LocationCheck | None,
        limit: int,
        shape: RowShape[Any],
    ) -> None:
        self.session = session
        self.check = check
        self.limit = limit
        self.shape = shape

    def _keep(self, rows: Sequence[_Row]) -> list[_Row]:
        check = self.check
        return list(rows) if check is None else [r for r in rows if check(r[1], r[2])]

    async def candidates(self, search: Search, uids: list[str], text_decided: bool) -> list[_Row]:
        """Matches of `search` among sorted candidate uids, read in growing chunks.

        `text_decided`: the candidates are exactly the cameras that hold `q`.

        Without a location check the SQL decides every condition: a chunk's
        matches are read in full at once, no more than the page still needs.
        With one, each chunk is first decided on (uid, lon, lat) alone, which
        on SQLite the covering walk index answers for most conditions without
        reading rows; only the page's own rows are then read in full.
        """
        dialect = search.dialect
        check = self.check
        found: list[_Row] = []
        kept: list[str] = []
        start, size = 0, _FIRST_CHUNK
        while start < len(uids) and len(found) + len(kept) <= self.limit:
            chunk = {"chunk": bound_values(dialect, uids[start : start + size])}
            start, size = start + size, size * 4
            if check is None:
                page = chunk_select(search, self.shape, self.limit + 1 - len(found), text_decided)
                found.extend(await fetch_all(self.session, page, search.params(chunk)))
                continue
            light = chunk_select(search, None, None, text_decided)
            rows = await fetch_all(self.session, light, search.params(chunk))
            kept.extend(uid for uid, lon, lat in rows if check(lon, lat))
        if check is None or not kept:
            return found
        return await _rows_of(self.session, self.shape, kept[: self.limit + 1])

    async def walk(self, search: Search, after: str | None, keep_to: tuple[str, ...]) -> list[_Row]:
        """Matches in uid order from `after`, kept to the candidates of the drivers `keep_to`.

        No filter is rare here. When one is a list of values of an indexed
        column, the walk follows that column's `(column, uid)` index: one
        range per value, merged (a list's values are far apart in uid order,
        as a department's uids all start with its id). Otherwise it follows
        the uids themselves; on SQLite the conditions are written off their
        indexes (`index_free`) so that the covering walk index serves the
        order and decides them without reading rows.
        """
        batch = self.limit + 1 if self.check is None else max(4 * (self.limit + 1), _MIN_BATCH)
        found: list[_Row] = []
        while len(found) <= self.limit:
            stmt = walk_select(search, self.shape, keep_to, after is not None, batch)
            past = {} if after is None else {"after": after}
            rows = await fetch_all(self.session, stmt, search.params(past))
            found.extend(self._keep(rows))
            if len(rows) < batch:
                break
            after = rows[-1][0]
        return found


async def _rows_of(session: Reader, shape: RowShape[Any], uids: Sequence[str]) -> list[_Row]:
    """The rows of `shape` of these uids (those that exist), in uid order."""
    dialect = dialect_of(session)
    params = {"uids": bound_values(dialect, uids)}
    return list(await fetch_all(session, members_select(shape, dialect), params))


# near: distances measured in Python, from candidates or over growing rings.

Measured = tuple[float, str]


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
    session: Reader, f: CameraFilter, shape: RowShape[T], *, limit: int, cursor: str | None
) -> CameraPage[T]:
    """The page of cameras within the circle, by (distance, uid), after `cursor`."""
    after: Measured | None = None
    if cursor is not None:
        d, uid = decode_cursor(cursor, "near", (float, str))
        after = (float(d), str(uid))
    circle = _Circle(f, after)
    # A box is read ring by ring; another filter is the start only when it is rare.
    search = await _search(session, f, boxes=False)
    best = (await _smallest(session, search)).best
    if best is not None:
        listed = await fetch_all(session, best.candidates.uids, search.params())
        uids = list({uid for (uid,) in listed})
        box = box_params(near_box(circle.lon, circle.lat, circle.radius))
        params = {"chunk": bound_values(search.dialect, uids), **box}
        rows = await fetch_all(session, circle_box_select(search, True), search.params(params))
        measured = circle.measure(rows, circle.radius)
    else:
        measured = await _rings(session, circle, search, limit)
    measured.sort()
    page = measured[:limit]
    items = await _rows_in_order(session, page, shape)
    if len(measured) > limit:
        return CameraPage(items, encode_cursor("near", *page[-1]))
    return CameraPage(items, None)


async def _rings(session: Reader, circle: _Circle, search: Search, limit: int) -> list[Measured]:
    """Matches within growing radii from the cursor's distance, until one holds `limit + 1`.

    Every match within a ring's radius lies in the ring's box, so once a ring
    holds `limit + 1` matches past the cursor they are the next ones overall.
    """
    inner = 0.0 if circle.after is None else circle.after[0]
    # The first ring: a round trip costs more than reading the (uid, lon, lat) of
    # the few hundred cameras a kilometre holds even in a city centre.
    step = max(circle.radius / 64, FIRST_RING_M)
    while True:
        within = min(inner + step, circle.radius)
        box = box_params(near_box(circle.lon, circle.lat, within))
        rows = await fetch_all(session, circle_box_select(search, False), search.params(box))
        measured = circle.measure(rows, within)
        if len(measured) > limit or within >= circle.radius:
            return measured
        # Area grows with the square of the radius: aim at twice the page.
        growth = (2 * (limit + 1) / max(len(measured), 1)) ** 0.5
        step *= min(max(growth, 2.0), 8.0)


async def _rows_in_order(session: Reader, page: list[Measured], shape: RowShape[T]) -> list[T]:
    if not page:
        return []
    by_uid = {r[0]: r for r in await _rows_of(session, shape, [uid for _, uid in page])}
    return [shape.make(by_uid[uid], d) for d, uid in page if uid in by_uid]


async def matching_uids(session: Reader, f: CameraFilter) -> list[str] | None:
    """Every uid matching `f` (any order), or None when no filter is rare enough to list them.

    The list holds at most a few thousand uids (the drivers' caps).
    """
    search = await _search(session, f)
    best = (await _smallest(session, search)).best
    if best is None:
        return None
    dialect = search.dialect
    conds = sql_conditions(search.f, dialect, index_free=dialect == "sqlite")
    # SQLite starts where it is told (the other terms are off their indexes);
    # PostgreSQL plans a column or box filter itself, but needs the candidates
    # of text or tags, whose exact terms no index serves.
    if dialect == "sqlite" or (best.column is None and best.name not in ("bbox", "near")):
        conds.append(Camera.uid.in_(best.candidates.uids))
    rows = await fetch_all(session, light_select(conds), search.params())
    check = python_check(f)
    return [uid for uid, lon, lat in rows if check is None or check(lon, lat)]


async def get_camera(session: AsyncSession, uid: str) -> CameraRow | None:
    """One camera with its cell, whatever its status; None when there is no such uid."""
    row = (await session.execute(rows_select(DETAIL).where(Camera.uid == uid))).first()
    return None if row is None else DETAIL.make(row, None)
