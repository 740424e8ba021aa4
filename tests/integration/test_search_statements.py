"""A search's statements are built once and kept; its answers never are.

`catalog.queries.camera_statements` keeps the statements of the searches it
has run. These tests run the same searches again after the catalog changed,
on SQLite and PostgreSQL, and check that the answers follow the change while
the statements were taken from what was kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import StatementError

from catalog.crs import from_wgs84
from catalog.db import Catalog
from catalog.models import Camera
from catalog.queries import camera_drivers, camera_filters, camera_statements
from catalog.queries.camera_filters import CameraFilter, FilterForm
from catalog.queries.camera_rows import DETAIL, RowShape, rendered_shape, wall_shape
from catalog.queries.cameras import find_cameras
from tests.integration.catalog_rows import (
    T0,
    add_all,
    make_camera,
    make_department,
    make_snapshot,
    uids,
)


async def _set_status(catalog: Catalog, uid: str, status: str) -> None:
    async with catalog.sessions() as session, session.begin():
        await session.execute(update(Camera).where(Camera.uid == uid).values(status=status))


async def test_a_repeated_walk_follows_every_change(catalog: Catalog) -> None:
    cameras = [make_camera("water", f"c{i}", lon=113.0 + i / 100, lat=27.8) for i in range(5)]
    await add_all(catalog, [make_department("water"), *cameras])
    online = CameraFilter(departments=("water",), statuses=("online",))  # a walk of one value
    assert await uids(catalog, online, limit=10) == [f"water:c{i}" for i in range(5)]

    built = camera_statements.walk_select.cache_info()
    await _set_status(catalog, "water:c1", "offline")
    await _set_status(catalog, "water:c4", "offline")
    assert await uids(catalog, online, limit=10) == ["water:c0", "water:c2", "water:c3"]
    again = camera_statements.walk_select.cache_info()
    assert again.hits == built.hits + 1  # the kept statement, not a new one
    assert again.misses == built.misses

    assert await uids(catalog, online, limit=2) == ["water:c0", "water:c2", "water:c3"]

    await _set_status(catalog, "water:c4", "online")
    assert await uids(catalog, online, limit=2) == ["water:c0", "water:c2", "water:c3", "water:c4"]


async def test_a_repeated_box_and_circle_follow_every_change(catalog: Catalog) -> None:
    cameras = [make_camera("water", f"c{i}", lon=113.0 + i / 1000, lat=27.8) for i in range(4)]
    await add_all(catalog, [make_department("water"), *cameras])
    box = CameraFilter(bbox=(112.999, 27.79, 113.0025, 27.81))
    circle = CameraFilter(near=(113.0, 27.8), radius_m=250.0)
    assert await uids(catalog, box, limit=1) == ["water:c0", "water:c1", "water:c2"]
    assert await uids(catalog, circle, limit=1) == ["water:c0", "water:c1", "water:c2"]

    async with catalog.sessions() as session, session.begin():
        moved = update(Camera).where(Camera.uid == "water:c0").values(lon=113.01, orig_lon=113.01)
        await session.execute(moved)
    assert await uids(catalog, box, limit=1) == ["water:c1", "water:c2"]
    assert await uids(catalog, circle, limit=1) == ["water:c1", "water:c2"]


def _statements_built() -> int:
    """How many conditions, drivers and statements the searches have built so far."""
    builders = (
        camera_filters.built_conditions,
        camera_drivers.built_drivers,
        camera_statements.candidates_select,
        camera_statements.chunk_select,
        camera_statements.circle_box_select,
        camera_statements.counts_select,
        camera_statements.listed_select,
        camera_statements.sole_select,
        camera_statements.walk_select,
    )
    return sum(built.cache_info().misses for built in builders)


async def test_every_box_and_circle_of_one_form_share_its_statements(catalog: Catalog) -> None:
    cameras = [make_camera("water", f"c{i}", lon=113.0 + i / 1000, lat=27.8) for i in range(8)]
    await add_all(catalog, [make_department("water"), *cameras])
    x, y = from_wgs84("gcj02", 113.0045, 27.8)
    cx, cy = from_wgs84("gcj02", 113.0042, 27.8)  # 20 m from c4, 79 m from c5

    def gcj02_box(x: float, y: float) -> CameraFilter:
        return CameraFilter(bbox=(x - 0.0006, y - 0.01, x + 0.0006, y + 0.01), crs="gcj02")

    camera_statements.forget_statements()
    # The first of each form (paged) builds its statements: a box, a box in
    # another CRS (decided in Python, so read in two steps), a circle.
    first = [
        (CameraFilter(bbox=(112.999, 27.79, 113.0015, 27.81)), ["water:c0", "water:c1"]),
        (gcj02_box(*from_wgs84("gcj02", 113.0065, 27.8)), ["water:c6", "water:c7"]),
        (CameraFilter(near=(113.0, 27.8), radius_m=120.0), ["water:c0", "water:c1"]),
    ]
    for f, found in first:
        assert await uids(catalog, f, limit=1) == found, f
    built = _statements_built()
    # Every other box and circle, in any CRS, only runs them.
    others = [
        (
            CameraFilter(bbox=(113.0025, 27.79, 113.0055, 27.81)),
            ["water:c3", "water:c4", "water:c5"],
        ),
        (gcj02_box(x, y), ["water:c4", "water:c5"]),
        (CameraFilter(near=(113.007, 27.8), radius_m=110.0), ["water:c7", "water:c6"]),
        (CameraFilter(near=(cx, cy), radius_m=100.0, crs="gcj02"), ["water:c4", "water:c5"]),
    ]
    for f, found in others:
        assert await uids(catalog, f, limit=1) == found, f
    assert _statements_built() == built


#: Texts by kind (`text_form`): a kind's texts share their statements.
TEXT_KINDS = {
    "sqlite": [
        ["红旗", "路口"],  # two plain characters
        ["灯", "桥"],  # one
        ["旗路口", "建设路", "红旗广场"],  # three or more, found exactly by FTS5
        ["KEL", "elv", "kelp站"],  # three or more, with cased letters
    ],
    "postgresql": [
        ["红旗", "路口", "灯", "桥"],  # one or two plain characters
        ["旗路口", "建设路", "红旗广场", "KEL", "elv", "kelp站"],  # three or more
    ],
}


async def test_every_text_of_one_kind_shares_its_statements(catalog: Catalog) -> None:
    """Each kind of text is one search key (its form), so one set of statements; the
    answers are each text's own (`test_a_text_runs_the_statements_of_its_form...`
    shows the statements are those of the text itself)."""
    names = ["红旗路口", "建设路口", "红旗广场", "KELVIN桥", "Kelp站", "路灯"]
    cameras = [make_camera("water", f"c{i}", name=name) for i, name in enumerate(names)]
    await add_all(catalog, [make_department("water"), *cameras])
    expected = {
        "红旗": ["c0", "c2"],
        "路口": ["c0", "c1"],
        "灯": ["c5"],
        "桥": ["c3"],
        "旗路口": ["c0"],
        "建设路": ["c1"],
        "红旗广场": ["c2"],
        "KEL": ["c3", "c4"],
        "elv": ["c3"],
        "kelp站": ["c4"],
    }
    kinds = TEXT_KINDS[catalog.dialect]
    keys = [
        {camera_statements.Search.of(CameraFilter(q=q), catalog.dialect) for q in kind}
        for kind in kinds
    ]
    assert [len(k) for k in keys] == [1] * len(kinds)
    assert len(set.union(*keys)) == len(kinds)
    for q, found in expected.items():
        assert await uids(catalog, CameraFilter(q=q), limit=1) == [f"water:{c}" for c in found]


async def test_a_repeated_wall_shows_the_newest_snapshots(catalog: Catalog) -> None:
    cameras = [make_camera("water", f"c{i}") for i in range(3)]
    first = [make_snapshot(c.uid, T0, n) for n, c in enumerate(cameras[:2])]
    await add_all(catalog, [make_department("water"), *cameras, *first])
    water = CameraFilter(departments=("water",))
    shape = wall_shape(catalog.engine.dialect)

    async def wall() -> list[tuple[str, int | None, str | None]]:
        async with catalog.sessions() as session:
            page = await find_cameras(session, water, shape, limit=10)
        return [(t.uid, t.snapshot_id, t.captured_at) for t in page.items]

    ids = {s.camera_uid: s.id for s in first}
    assert await wall() == [
        ("water:c0", ids["water:c0"], "2024-05-01T08:00:00Z"),
        ("water:c1", ids["water:c1"], "2024-05-01T08:00:00Z"),
        ("water:c2", None, None),
    ]
    later = [
        make_snapshot("water:c1", T0 + timedelta(minutes=1, microseconds=5), 7),
        make_snapshot("water:c2", T0, 8),
        make_snapshot("water:c2", T0, 9),  # the same time: the higher id is the newer
    ]
    await add_all(catalog, later)
    assert await wall() == [
        ("water:c0", ids["water:c0"], "2024-05-01T08:00:00Z"),
        ("water:c1", later[0].id, "2024-05-01T08:01:00.000005Z"),
        ("water:c2", later[2].id, "2024-05-01T08:00:00Z"),
    ]


async def test_a_connection_reads_what_a_session_reads(catalog: Catalog) -> None:
    cameras = [make_camera("water", f"c{i}", lon=113.0 + i / 1000, lat=27.8) for i in range(6)]
    snaps = [make_snapshot("water:c2", T0, 1)]
    await add_all(catalog, [make_department("water"), *cameras, *snaps])
    shapes: tuple[RowShape[Any], ...] = (
        rendered_shape(catalog.engine.dialect),
        wall_shape(catalog.engine.dialect),
    )
    searches = [
        CameraFilter(departments=("water",)),
        CameraFilter(bbox=(112.999, 27.79, 113.0035, 27.81)),
        CameraFilter(near=(113.0, 27.8), radius_m=300.0),
    ]
    for shape in shapes:
        for f in searches:
            async with catalog.sessions() as session:
                by_session = await find_cameras(session, f, shape, limit=4)
            async with catalog.engine.connect() as conn:
                by_connection = await find_cameras(conn, f, shape, limit=4)
            assert by_connection == by_session
            assert len(by_connection.items) == 4
    async with catalog.engine.connect() as conn:
        with pytest.raises(TypeError, match="a shape of ORM rows is read through a session"):
            await find_cameras(conn, searches[0], DETAIL, limit=4)


TEXTS = [
    "红旗",  # two plain characters: a walk of their piece
    "ab",
    "A1",
    "红",  # one plain character: the trigram terms that start with it
    "Q",
    "É",  # short and cased beyond ASCII: tested row by row
    "Éa",
    "红旗路",  # three or more, found exactly by FTS5
    "路口12",
    'say "x"',  # found by FTS5, then tested (cased letters)
    "KELVIN",
    "\u212aa1",  # the Kelvin sign, which FTS5 folds to k
    "a\x01b",  # the index's own padding character
]


DIALECTS: dict[str, Dialect] = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.asyncpg.dialect(),  # type: ignore[no-untyped-call]
}


def _sql(stmt: Any, dialect: str) -> tuple[str, dict[str, Any]]:
    compiled = stmt.compile(dialect=DIALECTS[dialect])
    return compiled.string, dict(compiled.params)


@pytest.mark.parametrize("q", TEXTS)
@pytest.mark.parametrize(
    ("dialect", "estimate"), [("sqlite", None), ("postgresql", None), ("postgresql", 7)]
)
def test_a_text_runs_the_statements_of_its_form_with_its_own_values(
    q: str, dialect: str, estimate: int | None
) -> None:
    """Every statement a search of `q` may run is that of its form, its parameters
    given `q`'s values (`filter_form`), and PostgreSQL's estimate of it."""
    shape = rendered_shape(DIALECTS[dialect])
    for f in (CameraFilter(q=q), CameraFilter(q=q, departments=("water",), tags=("a", "b"))):
        plain = camera_statements.Search(f, dialect, text_estimated=estimate is not None)
        formed = camera_statements.Search.of(f, dialect, text_estimate=estimate)
        assert isinstance(formed.f, FilterForm)
        built: list[tuple[Any, Any]] = [
            (camera_statements.counts_select(plain), camera_statements.counts_select(formed)),
            (
                camera_statements.walk_select(plain, shape, (), True, 101),
                camera_statements.walk_select(formed, shape, (), True, 101),
            ),
            (
                camera_statements.chunk_select(plain, shape, 101),
                camera_statements.chunk_select(formed, shape, 101),
            ),
        ]
        for mine, theirs in zip(plain.drivers, formed.drivers, strict=True):
            assert mine.name == theirs.name
            assert mine.candidates.exact == theirs.candidates.exact
            assert mine.prefilter == theirs.prefilter
            built.append((mine.candidates.uids, theirs.candidates.uids))
        if dialect == "sqlite" and [d.name for d in plain.drivers] == ["q"]:
            # A text of three characters or more is first listed if it has few candidates.
            few = (False, True) if plain.driver("q").candidates.few is not None else (False,)
            assert (formed.driver("q").candidates.few is not None) == (True in few)
            built += [
                (
                    camera_statements.listed_select(plain, shape, True, 101, False, listed_few),
                    camera_statements.listed_select(formed, shape, True, 101, False, listed_few),
                )
                for listed_few in few
            ]
        for mine, theirs in built:
            sql, params = _sql(mine, dialect)
            form_sql, form_params = _sql(theirs, dialect)
            assert form_sql == sql, q
            given = {k: v for k, v in formed.bounds.items() if k in form_params}
            assert form_params | given == params | {
                k: estimate for k in params if k == "q_estimate"
            }


@pytest.mark.parametrize(
    ("f", "missing"),
    [
        (CameraFilter(q="红旗路"), {"sqlite": "q_text", "postgresql": "q_text"}),
        (CameraFilter(q="红旗"), {"sqlite": "q_bigram", "postgresql": "q_text"}),
        (
            CameraFilter(bbox=(113.0, 27.7, 113.1, 27.8)),
            {"sqlite": "bbox_x0", "postgresql": "bbox_x0"},
        ),
    ],
)
async def test_a_statement_of_a_form_run_without_its_values_fails(
    catalog: Catalog, f: CameraFilter, missing: dict[str, str]
) -> None:
    """A form's statements hold no value of their own for a box or a text: run
    without the search's parameters, they fail instead of searching for a stand-in."""
    search = camera_statements.Search.of(f, catalog.dialect)
    stmt = camera_statements.walk_select(
        search, rendered_shape(catalog.engine.dialect), (), False, 5
    )
    async with catalog.engine.connect() as conn:
        with pytest.raises(
            StatementError,
            match=f"A value is required for bind parameter '{missing[catalog.dialect]}'",
        ):
            await conn.execute(stmt)
        assert (await conn.execute(stmt, search.params())).all() == []
