"""The statements a camera search runs, each built once per distinct search.

A `Search` is a filter as one engine searches it; it is hashable, and every
builder here is memoized on it (`FILTERS_KEPT` searches kept, least recently
used dropped). SQL expressions are immutable, and building one, then
SQLAlchemy's cache key of a new statement, cost a search more CPU than
SQLite takes to answer it; a wall refreshing, or an operator paging back and
forth, asks the same searches again and again. What differs between runs of
one statement (a chunk of uids, a ring's box, the cursor) is bound as a
parameter, and so are the bounds of `bbox` and `near` and the text of `q`:
a map asks for a new box at every move, and all boxes and texts of one
form share their statements (`filter_form`). `catalog.queries.cameras` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    ScalarSelect,
    Select,
    SQLColumnExpression,
    String,
    bindparam,
    case,
    func,
    select,
    true,
    union_all,
)

from catalog.models import Camera
from catalog.queries import camera_drivers, camera_filters
from catalog.queries.camera_drivers import Driver, drivers
from catalog.queries.camera_filters import (
    FILTERS_KEPT,
    CameraFilter,
    filter_form,
    in_box,
    one_of_bound,
    sql_conditions,
    unindexed,
)
from catalog.queries.camera_rows import RowShape, rows_select
from catalog.queries.text import bigram_piece

__all__ = [
    "MERGE_MOST",
    "Search",
    "box_params",
    "candidates_select",
    "chunk_select",
    "circle_box_select",
    "counts_select",
    "forget_statements",
    "light_select",
    "listed_select",
    "members_select",
    "packed_uids",
    "sole_select",
    "uid_order",
    "walk_select",
]

#: A walk merges the index ranges of at most this many values of one column.
MERGE_MOST: Final = 32


def uid_order(dialect: str) -> SQLColumnExpression[str]:
    """Camera.uid compared by code point: SQLite's BINARY, PostgreSQL's "C" collation."""
    if dialect == "postgresql":
        return Camera.uid.collate("C")
    return Camera.uid


@dataclass(frozen=True)
class Search:
    """A filter as one engine searches it: the key its built statements are kept under.

    Statements are immutable; those that depend only on the search (and a
    cursor) are built once per distinct key, `FILTERS_KEPT` of each kept.
    `f` is a filter's form (`filter_form`), so every box and text of a form
    shares them; every statement of the search runs with `bounds`, the
    values of the form's parameters, which are not part of the key.
    """

    f: CameraFilter
    dialect: str
    boxes: bool = True
    #: PostgreSQL's estimate of `q`'s cameras is parameter `q_estimate`
    text_estimated: bool = False
    bounds: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(
        cls, f: CameraFilter, dialect: str, boxes: bool = True, text_estimate: int | None = None
    ) -> Search:
        """The search of `f`: its form, and the values of the form's parameters
        (with PostgreSQL's `text_estimate` of `q`, if any)."""
        form, bounds = filter_form(f, dialect)
        if text_estimate is not None:
            bounds["q_estimate"] = text_estimate
        return cls(form, dialect, boxes, text_estimate is not None, bounds)

    def params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The parameters of one of the search's statements: its bounds, and `given`."""
        return {**self.bounds, **given} if given else dict(self.bounds)

    @property
    def drivers(self) -> list[Driver]:
        return drivers(self.f, self.dialect, boxes=self.boxes, text_estimated=self.text_estimated)

    def driver(self, name: str) -> Driver:
        return next(d for d in self.drivers if d.name == name)


@lru_cache(maxsize=FILTERS_KEPT)
def counts_select(search: Search) -> Select[*tuple[Any, ...]]:
    return select(*(d.candidates.count for d in search.drivers))


def packed_uids(dialect: str, driver: Driver) -> ScalarSelect[Any]:
    """The driver's candidates aggregated into one value (a JSON array on SQLite, an
    array on PostgreSQL): thousands of one-column rows cost more to fetch one by
    one than to find."""
    uid = driver.candidates.uids.subquery().c[0]
    aggregate = func.json_group_array(uid) if dialect == "sqlite" else func.array_agg(uid)
    return select(aggregate).scalar_subquery()


@lru_cache(maxsize=FILTERS_KEPT)
def candidates_select(search: Search, name: str) -> Select[Any]:
    """The packed candidates of the search's driver `name` (see `packed_uids`)."""
    return select(packed_uids(search.dialect, search.driver(name)))


@lru_cache(maxsize=FILTERS_KEPT)
def sole_select(search: Search) -> Select[Any]:
    """The capped count of the search's one driver, and its packed candidates within the cap.

    The candidates are listed only when their count is within the cap (bound
    as `cap`; a CASE evaluates its branch only when taken): a filter that
    matches many cameras costs its capped count, as in `_smallest`.
    """
    (driver,) = search.drivers
    count = select(driver.candidates.count.label("n")).subquery()
    within = count.c.n <= bindparam("cap", type_=Integer)
    return select(count.c.n, case((within, packed_uids(search.dialect, driver)), else_=None))


def _conditions(search: Search, *, text_decided: bool) -> list[ColumnElement[bool]]:
    """The search's conditions (off their indexes on SQLite), without `q`'s when
    the rows read are known to hold it (`text_decided`)."""
    f = replace(search.f, q=None) if text_decided else search.f
    return sql_conditions(f, search.dialect, index_free=search.dialect == "sqlite")


@lru_cache(maxsize=FILTERS_KEPT)
def walk_select(
    search: Search,
    shape: RowShape[Any],
    keep_to: tuple[str, ...],
    paged: bool,
    batch: int,
) -> Select[Any]:
    """A batch of `_Reader.walk`: up to `batch` matches of `search` by uid; when `paged`,
    past the uid of parameter `after`."""
    dialect = search.dialect
    key = uid_order(dialect)
    columns = [d for d in search.drivers if d.column is not None]
    by = next((d for d in columns if d.ordered), columns[0] if columns else None)
    if by is not None and len(by.values) > MERGE_MOST:
        by = None
    # Walking the pieces of `q` (`camera_bigrams`) decides it exactly: no test of it is left.
    conds = _conditions(search, text_decided=by is not None and by.table is not None)
    # Supersets of the answer, tested per row against a set built once,
    # never a place to start from: `+uid` on SQLite; on PostgreSQL `IS
    # TRUE` keeps the test a hashed subplan instead of a join to sort.
    kept = [search.driver(name).candidates for name in keep_to]
    if dialect == "sqlite":
        conds += [unindexed(Camera.uid).in_(c.uids) for c in kept]
    else:
        conds += [Camera.uid.in_(c.uids).is_(true()) for c in kept]
    past = [key > bindparam("after", type_=String)] if paged else []
    if by is None:
        stmt = rows_select(shape).where(*conds, *past)
    elif by.ordered and by.table is not None:
        # Ordered by the joined table's uid, whose index yields it (SQLite
        # would sort by `cameras.uid`); the equal uids take the same bounds.
        key = by.table.c.uid
        past = [key > bindparam("after", type_=String)] if paged else []
        joined = rows_select(shape).join(by.table, key == Camera.uid)
        stmt = joined.where(bigram_piece(by.column, by.values[0]), *conds, *past)
    elif by.ordered:
        stmt = rows_select(shape).where(by.column == by.values[0], *conds, *past)
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
        stmt = rows_select(shape).where(Camera.uid.in_(merged))
    return stmt.order_by(key).limit(batch)


@lru_cache(maxsize=FILTERS_KEPT)
def chunk_select(
    search: Search, shape: RowShape[Any] | None, limit: int | None, text_decided: bool = False
) -> Select[*tuple[Any, ...]]:
    """The matches of `search` among the uids of parameter `chunk`, in uid order: up to
    `limit` rows of `shape`, or with no shape every match's `(uid, lon, lat)`.

    On SQLite the conditions stay off their indexes: the chunk is where the read starts.
    With `text_decided` the chunk holds only cameras that hold `q`: it is not tested again.
    """
    dialect = search.dialect
    conds = _conditions(search, text_decided=text_decided)
    member = one_of_bound(dialect, Camera.uid, "chunk")
    if shape is None:
        return light_select([member, *conds]).order_by(uid_order(dialect))
    return rows_select(shape).where(member, *conds).order_by(uid_order(dialect)).limit(limit)


@lru_cache(maxsize=FILTERS_KEPT)
def listed_select(
    search: Search,
    shape: RowShape[Any],
    paged: bool,
    limit: int,
    text_decided: bool,
    few: bool = False,
) -> Select[Any]:
    """Up to `limit` matches of `search` among the candidates of its text, in uid order;
    when `paged`, past the uid of parameter `after` (SQLite). With `few`, none
    when the text has more than parameter `few_most` candidates (`Candidates.few`).

    SQLite iterates the candidates of `uid IN (...)` in order and stops at the
    limit: it builds only the page's rows. With `text_decided` the candidates
    all hold `q`: it is not tested again.
    """
    conds = _conditions(search, text_decided=text_decided)
    candidates = search.driver("q").candidates
    listed = candidates.few if few else candidates.uids
    assert listed is not None, "this text has no `few` candidates"
    conds.append(Camera.uid.in_(listed))
    if paged:
        conds.append(Camera.uid > bindparam("after", type_=String))
    return rows_select(shape).where(*conds).order_by(uid_order(search.dialect)).limit(limit)


@lru_cache(maxsize=16)
def members_select(shape: RowShape[Any], dialect: str) -> Select[Any]:
    """The rows of `shape` of the uids of parameter `uids`, in uid order."""
    member = one_of_bound(dialect, Camera.uid, "uids")
    return rows_select(shape).where(member).order_by(uid_order(dialect))


def light_select(conds: Sequence[ColumnElement[bool]]) -> Select[str, float | None, float | None]:
    return select(Camera.uid, Camera.lon, Camera.lat).where(*conds)


@lru_cache(maxsize=FILTERS_KEPT)
def circle_box_select(search: Search, chunk: bool) -> Select[str, float | None, float | None]:
    """`(uid, lon, lat)` of the cameras matching every filter of `search` but `near`, in the
    box of parameters `x0`, `y0`, `x1`, `y1`; with `chunk`, among the uids of parameter `chunk`.

    On SQLite the conditions stay off their indexes: the read starts at the
    box (a ring), or at the uids.
    """
    dialect = search.dialect
    index_free = dialect == "sqlite"
    conds = sql_conditions(
        replace(search.f, near=None, radius_m=None), dialect, index_free=index_free
    )
    bounds = [bindparam(name, type_=Float) for name in ("x0", "y0", "x1", "y1")]
    box = in_box(bounds, index_free=index_free and chunk)
    if chunk:
        conds.append(one_of_bound(dialect, Camera.uid, "chunk"))
    return light_select([*conds, *box])


def box_params(box: tuple[float, float, float, float]) -> dict[str, float]:
    return dict(zip(("x0", "y0", "x1", "y1"), box, strict=True))


def forget_statements() -> None:
    """Drop every statement, condition and driver built so far.

    For tests that change the caps (`camera_drivers.CAPS`, `DEFAULT_CAP`,
    `PREFILTER_MOST`), which drivers read when they are built.
    """
    for built in (
        camera_filters.built_conditions,
        camera_drivers.built_drivers,
        candidates_select,
        chunk_select,
        circle_box_select,
        counts_select,
        listed_select,
        members_select,
        sole_select,
        walk_select,
    ):
        built.cache_clear()
