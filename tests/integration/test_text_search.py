"""Text search (`q`) stays exact and takes the plan it should; its side tables follow every change.

On SQLite a two-character text walks `camera_bigrams`, a longer one starts
from the FTS5 trigram index; on PostgreSQL from `pg_trgm` and the pieces
index. These tests compare answers with ILIKE and with Python, check which
plan a text takes, and check that the triggers keep tags, text, the trigram
index and the bigrams in step with every insert, update and delete.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update

from catalog.db import Catalog, open_catalog
from catalog.models import CAMERA_STATUSES, Camera
from catalog.queries import camera_statements
from catalog.queries.camera_drivers import SearchCaps, drivers
from catalog.queries.camera_filters import (
    CameraFilter,
)
from catalog.queries.camera_rows import rendered_shape
from catalog.queries.cameras import find_cameras
from catalog.queries.search_schema import camera_bigrams, camera_tags, camera_text
from catalog.queries.text import escape_like
from tests.integration.catalog_rows import (
    add_all,
    make_camera,
    make_department,
    uids,
)


async def test_a_text_most_cameras_hold_is_walked_and_a_rare_one_listed(
    catalog: Catalog,
) -> None:
    """At district size, a page of a text nearly every camera holds is found
    sooner by walking the cameras than by listing every holder first."""
    rows: list[Any] = [make_department("water")]
    for i in range(120):
        name = f"取水泵站{i}号" if i % 12 == 0 else f"路口{i}号"
        rows.append(make_camera("water", f"c{i:03}", name=name, address="芦淞区建设路"))
    await add_all(catalog, rows)
    if catalog.dialect == "postgresql":
        async with catalog.engine.begin() as conn:
            await conn.execute(text("ANALYZE cameras"))  # its size, as autovacuum would
    # Connections that have not read the catalog's size yet (it is kept for a while).
    fresh = open_catalog(catalog.engine.url.render_as_string(hide_password=False))

    try:
        every = [f"water:c{i:03}" for i in range(120)]
        assert await plan_of(fresh, "芦淞区", 10) == (every[:10], "walk")
        assert await plan_of(fresh, "水泵站", 10) == (every[::12], "list")
        # The caps as measured (200,000 cameras) would have listed all 120 holders.
        (text_driver,) = drivers(CameraFilter(q="芦淞区"), "sqlite")
        assert SearchCaps.of_search(None, 11).cap(text_driver) > 120
    finally:
        await fresh.close()


async def plan_of(catalog: Catalog, q: str, limit: int) -> tuple[list[str], str]:
    """The uids of a page of `q`, and how it was found: by a walk, or from a list."""
    shape = rendered_shape(catalog.engine.dialect)
    built = (camera_statements.walk_select, camera_statements.chunk_select,
             camera_statements.listed_select)  # fmt: skip
    before = [b.cache_info() for b in built]
    async with catalog.engine.connect() as conn:
        page = await find_cameras(conn, CameraFilter(q=q), shape, limit=limit)
    used = [a.hits + a.misses - b.hits - b.misses
            for a, b in zip((b.cache_info() for b in built), before, strict=True)]  # fmt: skip
    # A walked text of three characters or more first tried to list its few candidates.
    assert used[0] <= 1, used
    assert 1 <= used[0] + used[1] + used[2] <= 2, used
    return [item.uid for item in page.items], "walk" if used[0] else "list"


@pytest.mark.parametrize("catalog", ["postgresql"], indirect=True)
async def test_postgresql_reads_the_pieces_index_instead_of_computing_each_row(
    catalog: Catalog,
) -> None:
    """A camera's pieces take about 0.1 ms to compute: a district's 2,000 cameras
    cost a search 230 ms when the planner computed them row by row (migration 0009)."""
    async with catalog.sessions() as session, session.begin():
        session.add(make_department("water"))
        await session.flush()
        session.add_all(
            make_camera("water", f"c{i:04}", name=f"{'大道泵站' if i % 3 else '路口'}{i}")
            for i in range(2000)
        )
    # The count and the list of candidates, as the search runs them (never under a LIMIT).
    holds = "camgrid_text_grams(name, address) @> ARRAY[{}]"
    searches = [
        f"SELECT count(*) FROM cameras WHERE {holds.format(repr('大道'))}",
        f"SELECT array_agg(uid) FROM cameras WHERE {holds.format(repr('路口'))}",
    ]
    async with catalog.engine.begin() as conn:
        await conn.execute(text("ANALYZE cameras"))
        for search in searches:
            plan = "\n".join(row[0] for row in await conn.execute(text(f"EXPLAIN {search}")))
            assert "ix_search_cameras_grams" in plan, plan


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)  # FTS5 is SQLite's
async def test_a_text_of_three_characters_with_few_cameras_is_one_statement(
    catalog: Catalog,
) -> None:
    """Its candidates are counted and listed in the page's statement; a text with
    too many is then counted on its own and walked."""
    rows: list[Any] = [make_department("water")]
    for i in range(120):
        name = f"取水泵站{i}号" if i % 12 == 0 else f"路口{i}号"
        rows.append(make_camera("water", f"c{i:03}", name=name, address="芦淞区建设路"))
    await add_all(catalog, rows)
    every = [f"water:c{i:03}" for i in range(120)]
    executed: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "max(rowid)" not in statement:  # the catalog's size, read once a while
            executed.append(statement)

    # Connections that have not read the catalog's size yet (it is kept for a while).
    fresh = open_catalog(catalog.engine.url.render_as_string(hide_password=False))
    event.listen(fresh.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await plan_of(fresh, "水泵站", 5) == (every[::12][:5], "list")
        assert len(executed) == 1, executed
        assert "text_hits" in executed[0]
        executed.clear()
        assert await plan_of(fresh, "芦淞区", 5) == (every[:5], "walk")
        assert len(executed) == 3, executed  # no page from the few, the count, the walk
        executed.clear()
        assert await plan_of(fresh, "不存在", 5) == ([], "list")
        assert await uids(fresh, CameraFilter(q="水泵站"), limit=3) == every[::12]
    finally:
        event.remove(fresh.engine.sync_engine, "before_cursor_execute", record)
        await fresh.close()


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)  # camera_bigrams is SQLite's
async def test_two_characters_walk_their_pieces_in_one_statement(catalog: Catalog) -> None:
    """A two-character text, common or rare, is one walk of `camera_bigrams` in uid order:
    no count of its candidates first, and the page and its cursor are exact."""
    rows: list[Any] = [make_department("water")]
    for i in range(120):
        name = f"取水泵站{i}号" if i % 12 == 0 else f"路口{i}号"
        rows.append(make_camera("water", f"c{i:03}", name=name, address="芦淞区建设路"))
    rows.append(make_camera("water", "x", name="Pump AB", address=""))
    await add_all(catalog, rows)
    every = [f"water:c{i:03}" for i in range(120)]
    executed: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        executed.append(statement)

    event.listen(catalog.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await plan_of(catalog, "淞区", 10) == (every[:10], "walk")
        assert await plan_of(catalog, "泵站", 100) == (every[::12], "walk")
        assert await plan_of(catalog, "ab", 10) == (["water:x"], "walk")
        assert await plan_of(catalog, "Mp", 10) == (["water:x"], "walk")
    finally:
        event.remove(catalog.engine.sync_engine, "before_cursor_execute", record)
    assert len(executed) == 4, executed  # one statement a page
    assert all("camera_bigrams" in sql for sql in executed)
    assert await uids(catalog, CameraFilter(q="淞区"), limit=7) == every  # page after page


# The search tables follow every change of the cameras.


async def side_tables(catalog: Catalog) -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    """(tag, uid) rows of camera_tags, and (uid, name, address) rows of camera_text (SQLite)."""
    async with catalog.sessions() as session:
        tags = {(t, u) for t, u in (await session.execute(select(camera_tags))).all()}
        texts: set[tuple[str, str, str]] = set()
        if catalog.dialect == "sqlite":
            stmt = select(camera_text.c.uid, camera_text.c.name, camera_text.c.address)
            texts = {(u, n, a) for u, n, a in (await session.execute(stmt)).all()}
    return tags, texts


async def cameras_now(catalog: Catalog) -> list[Camera]:
    """Every camera as stored."""
    async with catalog.sessions() as session:
        return list(await session.scalars(select(Camera)))


async def assert_in_step(catalog: Catalog, probes: Sequence[str]) -> None:
    """The side tables mirror the cameras, and text searches find exactly the plain answer."""
    cameras = await cameras_now(catalog)
    tags, texts = await side_tables(catalog)
    assert tags == {(t, c.uid) for c in cameras for t in c.tags if isinstance(t, str)}
    if catalog.dialect == "sqlite":
        assert texts == {(c.uid, c.name, c.address) for c in cameras}
    every = tuple(CAMERA_STATUSES)
    for q in probes:
        wanted = sorted(
            c.uid for c in cameras if q.lower() in c.name.lower() or q.lower() in c.address.lower()
        )
        assert await uids(catalog, CameraFilter(q=q, statuses=every)) == wanted, q
    for tag in {t for c in cameras for t in c.tags if isinstance(t, str)} | {"gone"}:
        wanted = sorted(c.uid for c in cameras if tag in c.tags)
        assert await uids(catalog, CameraFilter(tags=(tag,), statuses=every)) == wanted, tag


async def test_search_tables_follow_inserts_updates_and_deletes(catalog: Catalog) -> None:
    odd: list[Any] = ["gate", 7, None, "gate", {"x": 1}]  # not every element is a tag
    await add_all(
        catalog,
        [
            make_department("d"),
            make_camera("d", "a", name="建设路与红旗路交叉口", address="芦淞区",
                        tags=["gate", "river"]),
            make_camera("d", "b", name="Hongqi Road EAST", address="100% 路", tags=odd),
            make_camera("d", "c", name="泵站", address="湘江", tags=[]),
            make_camera("d", "e", name="ab", address="", tags=["pump", "pump"]),
        ],
    )  # fmt: skip
    probes = [
        "建",
        "口",
        "叉口",
        "交叉口",
        "红旗路",
        "road",
        "EAST",
        "t",
        "ab",
        "b",
        "%",
        "泵站",
        "江",
    ]
    await assert_in_step(catalog, probes)
    async with catalog.sessions() as session, session.begin():
        await session.execute(
            update(Camera)
            .where(Camera.uid == "d:a")
            .values(name="人民路口", address="天元区", tags=["school"])
        )
        await session.execute(update(Camera).where(Camera.uid == "d:b").values(tags=["gate"]))
        await session.execute(update(Camera).where(Camera.uid == "d:c").values(address="湘江大道"))
        await session.execute(update(Camera).where(Camera.uid == "d:e").values(uid="d:f"))
    await assert_in_step(catalog, [*probes, "人民", "路口", "大道", "school", "天元"])
    assert await uids(catalog, CameraFilter(q="红旗")) == []  # the old name is gone
    async with catalog.sessions() as session, session.begin():
        await session.execute(delete(Camera).where(Camera.uid.in_(["d:b", "d:f"])))
    await assert_in_step(catalog, [*probes, "人民", "路口", "大道"])
    assert await uids(catalog, CameraFilter(q="Road")) == []


async def test_orm_changes_keep_the_text_index_in_step(catalog: Catalog) -> None:
    await add_all(
        catalog, [make_department("d"), make_camera("d", "a", name="旧名字", address="旧地址")]
    )
    async with catalog.sessions() as session, session.begin():
        camera = await session.get(Camera, "d:a")
        assert camera is not None
        camera.name = "新名字"
        camera.tags = ["new"]
    await assert_in_step(catalog, ["旧", "新", "名字", "旧地址", "地址"])
    async with catalog.sessions() as session, session.begin():
        camera = await session.get(Camera, "d:a")
        await session.delete(camera)
    await assert_in_step(catalog, ["新", "地址"])


# Text: any length, case, and the characters the index syntax gives meaning to.

TEXT_NAMES = [
    "建设路与红旗路交叉口", "红旗路口", "Hongqi Road EAST", 'say "hi"', "100% sure", "a_b",
    "a\\b path", "ÉCOLE Centrale", "école", "Straße", "x", "路",
]  # fmt: skip


@pytest.mark.parametrize(
    "q",
    ["路", "口", "路口", "叉口", "建设", "与红旗", "红旗路口", "HONGQI", "hongqi", "qi r", "d E",
     "EAST", "t", '"', 'y "h', "%", "0%", "_", "a_", "\\", "x", "ab", "hi", "ÉC", "éc", "É",
     "é", "ss", "ß", "STRASSE", "路与红旗路交叉口x"],
)  # fmt: skip
async def test_text_search_equals_ilike_on_every_engine(
    catalog: Catalog, plan: str, q: str
) -> None:
    await add_all(
        catalog,
        [
            make_department("d"),
            *(make_camera("d", f"n{i}", name=n) for i, n in enumerate(TEXT_NAMES)),
            *(make_camera("d", f"a{i}", name="x", address=n) for i, n in enumerate(TEXT_NAMES)),
        ],
    )
    # The rule itself, asked of the engine: ILIKE with the wildcards made literal.
    pattern = f"%{escape_like(q)}%"
    async with catalog.sessions() as session:
        rule = select(Camera.uid).where(
            (Camera.name.ilike(pattern, escape="\\")) | (Camera.address.ilike(pattern, escape="\\"))
        )
        expected = sorted(await session.scalars(rule))
    assert await uids(catalog, CameraFilter(q=q)) == expected
    if q.isascii() or all(ch.lower() == ch == ch.upper() for ch in q):
        # Where both engines fold alike, the answer is Python's too.
        plain = sorted(
            c.uid
            for c in await cameras_now(catalog)
            if q.lower() in c.name.lower() or q.lower() in c.address.lower()
        )
        assert expected == plain


@pytest.mark.parametrize("catalog", ["sqlite"], indirect=True)  # FTS5 and bigrams are SQLite's
async def test_fts_finds_nothing_stale_after_many_changes(catalog: Catalog) -> None:
    rng = random.Random(9)
    words = ["建设", "红旗", "路口", "泵站", "Gate", "north", "湘江"]
    await add_all(catalog, [make_department("d"), *(make_camera("d", f"c{i}") for i in range(30))])
    async with catalog.sessions() as session, session.begin():
        for _ in range(200):
            uid = f"d:c{rng.randrange(30)}"
            name = "".join(rng.sample(words, 2))
            await session.execute(update(Camera).where(Camera.uid == uid).values(name=name))
    async with catalog.sessions() as session:
        fts_rows = await session.scalar(text("SELECT count(*) FROM camera_fts_row"))
        assert fts_rows  # the vocabulary is not empty...
        docs = await session.scalar(text("SELECT count(DISTINCT doc) FROM camera_fts_instance"))
        assert docs == 30  # ...and holds every camera once, none twice, none stale
        count = await session.scalar(select(func.count()).select_from(camera_text))
        assert count == 30
        bigrams = {(b, uid) for b, uid in await session.execute(select(camera_bigrams))}
    pieces = {
        (text[i : i + 2], camera.uid)
        for camera in await cameras_now(catalog)
        for text in (camera.name.lower(), camera.address.lower())
        for i in range(len(text) - 1)
    }
    assert bigrams == pieces  # every piece of every text now, and no other
    await assert_in_step(catalog, [*words, "设红", "口泵", "h", "e", "建"])
