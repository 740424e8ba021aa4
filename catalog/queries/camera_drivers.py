"""Where a camera search starts: the filters an index can list candidates for.

Each such filter is a `Driver`, with a cap: the most candidates worth listing
from its index before a walk in uid order is cheaper. `SearchCaps` scales the
caps to the catalog's size and the page asked for. The caps only choose where a
search starts, never what it finds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache, partial
from typing import Any, Final

from sqlalchemy import select

from catalog.models import Camera
from catalog.queries.camera_filters import (
    FILTERS_KEPT,
    BBox,
    CameraFilter,
    bbox_box,
    circle_box,
    communities_condition,
    in_box,
    in_values,
)
from catalog.queries.search_schema import camera_bigrams, camera_tags
from catalog.queries.text import (
    TRIGRAM,
    Candidates,
    bigram_of,
    bigram_piece,
    capped_count,
    text_candidates,
)

__all__ = [
    "CAPS",
    "CAPS_CAMERAS",
    "CAPS_PAGE",
    "DEFAULT_CAP",
    "PREFILTER_MOST",
    "Driver",
    "SearchCaps",
    "drivers",
    "walks_at_once",
]

#: Most candidates listed from one index, by driver, at `CAPS_CAMERAS` cameras
#: and pages of `CAPS_PAGE`: beyond it a walk in uid order is cheaper. A walk
#: finds a page after about page * N / count rows, listing costs about count,
#: so the two meet near sqrt(page * N * walk cost / list cost): a few thousand
#: at 200,000 cameras, a few hundred at 2,000 (`SearchCaps` scales them). Walks
#: decide text and tags row by row, dearer than the columns of the walk index,
#: so those drivers may list a little more before a walk pays off.
CAPS: Final = {"q": 4500, "tag": 4000}
DEFAULT_CAP: Final = 3000
#: Text and tags are counted up to this many candidates: a walk in uid order
#: past that cap still keeps to their candidates (`Driver.prefilter`). Listing
#: them costs about count, a membership test saves a little on each of the
#: page * N / count rows the walk reads: the same square root.
PREFILTER_MOST: Final = 10_000
#: The catalog size and page the caps above were measured at (bench/catalog.py).
CAPS_CAMERAS: Final = 200_000
CAPS_PAGE: Final = 101


@dataclass(frozen=True)
class Driver:
    """A filter an index can list candidates for: their uids and their capped count.

    `cap` is the most candidates worth listing from it (the count is capped
    just above). `column` and `values` are set for a list of values of a
    column that has a `(column, uid)` index, which yields each value's
    cameras in uid order. That column is one of `cameras`, or of `table`,
    which has a `uid` column a walk joins on (`camera_bigrams`). The
    candidates' statements are built when first asked for (a walk never
    needs them).
    """

    name: str
    build: Callable[[], Candidates]
    cap: int
    column: Any = None
    values: tuple[str, ...] = ()
    table: Any = None
    #: Counted beyond its cap, up to `PREFILTER_MOST`: when no filter is rare,
    #: a walk reads only its candidates (a cheap membership test per row).
    prefilter: bool = False

    @cached_property
    def candidates(self) -> Candidates:
        """The uids and count statements of this filter's candidates."""
        return self.build()

    @property
    def ordered(self) -> bool:
        """One value of an indexed column: its `(column, uid)` index yields uid order."""
        return self.column is not None and len(self.values) == 1


def walks_at_once(found: Sequence[Driver]) -> bool:
    """Whether a search with these drivers walks an index without counting them first.

    So it does with only columns of `cameras`, one of them a single value:
    walking that value's `(column, uid)` index is never worse than listing
    its cameras. A search with one driver walks it when it is a single value
    of any table's such index (a text of two characters).
    """
    if len(found) == 1:
        return found[0].ordered
    return all(d.column is not None and d.table is None for d in found) and any(
        d.ordered for d in found
    )


@dataclass(frozen=True)
class SearchCaps:
    """The caps of one search: those above, scaled to its catalog and page.

    Where listing and walking meet grows with sqrt(page * cameras), so a
    catalog of 2,000 cameras walks from about a tenth of the caps measured
    at 200,000. The caps are never raised above those measured ones. They
    only choose where a search starts, never what it finds.
    """

    #: (cameras, page), or None for the caps as measured (size unknown).
    size: tuple[int, int] | None = None

    @classmethod
    def of_search(cls, cameras: int | None, page: int) -> SearchCaps:
        """The caps for a catalog of about `cameras` (None: unknown) and pages of `page` rows."""
        return cls(None if cameras is None else (max(cameras, 0), page))

    def _scaled(self, measured: int) -> int:
        if self.size is None:
            return measured
        cameras, page = self.size
        scaled = math.isqrt(measured * measured * cameras * page // (CAPS_CAMERAS * CAPS_PAGE))
        return max(1, min(measured, scaled))

    def cap(self, driver: Driver) -> int:
        """The most candidates worth listing from `driver` in this search."""
        return self._scaled(driver.cap)

    @property
    def prefilter_most(self) -> int:
        """The most candidates a walk keeps to (`Driver.prefilter`) in this search."""
        return self._scaled(PREFILTER_MOST)


def _driver(
    name: str,
    uids: Callable[[], Any],
    column: Any = None,
    values: tuple[str, ...] = (),
    *,
    prefilter: bool = False,
    table: Any = None,
) -> Driver:
    cap = CAPS.get(name, DEFAULT_CAP)
    counted = PREFILTER_MOST if prefilter else cap

    def build() -> Candidates:
        stmt = uids()
        return Candidates(stmt, capped_count(stmt, counted))

    return Driver(name, build, cap, column, values, table, prefilter=prefilter)


def drivers(
    f: CameraFilter, dialect: str, *, boxes: bool = True, text_estimated: bool = False
) -> list[Driver]:
    """Every filter of `f` that an index can list candidates for.

    `boxes=False` leaves out `bbox` and `near` (for a caller that reads boxes
    its own way); with `text_estimated`, parameter `q_estimate` is PostgreSQL's
    estimate for `q`.
    The drivers of a filter are shared by its searches, and so are the
    candidate statements each builds when first asked.
    """
    return list(built_drivers(f, dialect, boxes, text_estimated))


@lru_cache(maxsize=FILTERS_KEPT)
def built_drivers(
    f: CameraFilter, dialect: str, boxes: bool, text_estimated: bool
) -> tuple[Driver, ...]:
    """`drivers`, built once per distinct filter and kept."""
    found: list[Driver] = []
    # Most selective first: a walk prefers the first of these it can use.
    columns = (
        ("grid", Camera.grid_id, f.grid_ids),
        ("department", Camera.department_id, f.departments),
        ("kind", Camera.kind, f.kinds),
        ("status", Camera.status, f.statuses),
    )
    for name, column, values in columns:
        if values:
            found.append(
                _driver(name, partial(_with_values, column, values), column, tuple(values))
            )
    if f.communities:
        found.append(
            _driver("community", lambda: select(Camera.uid).where(communities_condition(f)))
        )
    if f.tags:
        found.append(_driver("tag", partial(_tagged, f.tags), prefilter=True))
    bigram = bigram_of(dialect, f.q) if f.q else None
    if bigram is not None:
        # Last of the columns: a walk follows a column of `cameras` when it can.
        pieces = camera_bigrams.c.bigram
        found.append(
            _driver("q", partial(_with_bigram, bigram), pieces, (bigram,), table=camera_bigrams)
        )
    elif f.q:
        text = text_candidates(dialect, f.q, PREFILTER_MOST, text_estimated)
        if text is not None:
            # A walk keeps to the text's candidates only where the index finds
            # them exactly (SQLite's FTS5, PostgreSQL's 1-2 character pieces). A
            # pg_trgm candidate set must be rechecked row by row (for `r gat` it
            # is 20,000 rows for 3,000 matches): a walk testing each row it
            # reads finds a page sooner than building that set.
            exact = dialect == "sqlite" or len(f.q) < TRIGRAM
            found.append(Driver("q", lambda: text, CAPS["q"], prefilter=exact))
    for name, box in (("bbox", bbox_box(f)), ("near", circle_box(f))) if boxes else ():
        if box is not None:
            found.append(_driver(name, partial(_in_box_uids, box)))
    return tuple(found)


def _tagged(tags: tuple[str, ...]) -> Any:
    return select(camera_tags.c.uid).where(in_values(camera_tags.c.tag, tags))


def _with_bigram(bigram: str) -> Any:
    return select(camera_bigrams.c.uid).where(bigram_piece(camera_bigrams.c.bigram, bigram))


def _with_values(column: Any, values: tuple[str, ...]) -> Any:
    return select(Camera.uid).where(in_values(column, values))


def _in_box_uids(box: BBox | Sequence[Any]) -> Any:
    return select(Camera.uid).where(*in_box(box))
