"""Search at scale stays exact: every plan the search may choose gives the plain answer.

`catalog.queries` chooses where a search starts (an index's candidates, a
walk in uid order, rings around a point, time slices of a few cameras, a
newest-first scan of many) from counts and caps. These tests shrink the caps
so that random catalogs take every path, and compare each answer with a
plain reading of the rules; they also check that the triggers keep the
search tables (tags, the text index) in step with every insert, update and
delete, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update

from catalog.crs import from_wgs84, out_of_china, to_wgs84
from catalog.db import Catalog, open_catalog
from catalog.models import CAMERA_STATUSES, Camera, GridCell, Snapshot
from catalog.queries import camera_drivers, camera_statements, reader, snapshots
from catalog.queries import cameras as cameras_module
from catalog.queries.camera_drivers import SearchCaps, drivers
from catalog.queries.camera_filters import (
    CRS_SLACK_DEG,
    CRS_SLOPE,
    CameraFilter,
    wgs84_prefilter,
)
from catalog.queries.camera_rows import rendered_shape
from catalog.queries.camera_statements import forget_statements
from catalog.queries.cameras import find_cameras
from catalog.queries.search_schema import camera_bigrams, camera_tags, camera_text
from catalog.queries.snapshots import list_snapshots
from catalog.queries.stats import stats
from catalog.queries.text import escape_like
from tests.integration.brute_force import brute_force, random_catalog, random_filter
from tests.integration.catalog_rows import (
    T0,
    add_all,
    assert_pages_are,
    make_camera,
    make_department,
    random_snapshots,
    uids,
)

# Plans, by the caps that choose them.
# (The caps as shipped, where small catalogs start from candidates, are what
# test_queries.test_random_catalog_matches_brute_force runs.)
PLANS: dict[str, dict[str, int]] = {
    "mixed": {"caps": 30},  # some filters rare, some common: either start
    "walks": {"caps": 2, "ring": 50},  # every filter common: walks, merged ranges, rings...
    "bare": {"caps": 2, "prefilter": 1},  # ...with no candidate sets to keep to
}


@pytest.fixture(params=sorted(PLANS))
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Shrink the caps of the search so that it takes the paths of `request.param`.

    Drivers read the caps when they are built, and built ones are kept: they
    are forgotten once the caps are shrunk, and again before they are restored.
    """
    settings = PLANS[request.param]
    # The caps hold as given at any catalog size (`SearchCaps` scales nothing).
    monkeypatch.setattr(camera_drivers, "CAPS_CAMERAS", 1)
    monkeypatch.setattr(camera_drivers, "CAPS_PAGE", 1)
    if "caps" in settings:
        caps = settings["caps"]
        monkeypatch.setattr(camera_drivers, "DEFAULT_CAP", caps)
        monkeypatch.setattr(camera_drivers, "CAPS", {"q": caps, "tag": caps})
    if "prefilter" in settings:
        monkeypatch.setattr(camera_drivers, "PREFILTER_MOST", settings["prefilter"])
    if "ring" in settings:
        monkeypatch.setattr(cameras_module, "FIRST_RING_M", float(settings["ring"]))
    forget_statements()
    yield str(request.param)
    forget_statements()


async def test_every_plan_matches_brute_force(
    catalog: Catalog, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a session (ORM rows), and on SQLite also as the API reads: its
    list shape on a connection that runs each statement's SQL on sqlite3 itself
    (on PostgreSQL that shape reads through SQLAlchemy as a session does)."""
    rng = random.Random(f"plans/{plan}")
    rows, cameras, cells = random_catalog(rng, 300)
    await add_all(catalog, rows)
    api = open_catalog(catalog.engine.url.render_as_string(hide_password=False),
                       sqlite_inline_reads=True)  # fmt: skip
    straight: list[str] = []
    values = reader._Plan.values

    def counted(self: Any, given: Any) -> list[Any]:
        straight.append(self.sql)
        return values(self, given)

    monkeypatch.setattr(reader._Plan, "values", counted)
    checked = 0
    try:
        for _ in range(100):
            f = random_filter(rng, cameras, cells)
            expected = brute_force(cameras, cells, f)
            limit = rng.choice([2, 7, 40, 1000])
            await assert_pages_are(catalog, f, expected, limit)
            if catalog.dialect == "sqlite":
                as_api = [(r.uid, r.distance_m) for r in await rendered_pages(api, f, limit)]
                assert as_api == [(uid, d if f.near else None) for uid, d in expected], f
            checked += bool(expected)
    finally:
        await api.close()
    assert checked > 45
    assert bool(straight) == (catalog.dialect == "sqlite")


async def rendered_pages(catalog: Catalog, f: CameraFilter, limit: int) -> list[Any]:
    """Every item of every page in the API's list shape, read through one connection."""
    shape = rendered_shape(catalog.engine.dialect)
    found: list[Any] = []
    cursor: str | None = None
    async with catalog.engine.connect() as conn:
        while True:
            page = await find_cameras(conn, f, shape, limit=limit, cursor=cursor)
            found.extend(page.items)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor


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
    took = {"walk": used[0], "list": used[1] + used[2]}
    assert sorted(took.values()) == [0, 1], took
    return [item.uid for item in page.items], max(took, key=lambda k: took[k])


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


# Snapshots by area and time, through every plan.

SNAPSHOT_PLANS: dict[str, dict[str, float]] = {
    "cameras": {},  # few cameras: index ranges per camera, in time slices
    "slices": {"interval": 0.5},  # tiny first slices: many slices, growing
    "time": {"area_cap": 0},  # as if every area were large: newest-first scan
}


def area_filter(rng: random.Random, cameras: Sequence[Camera], cells: Sequence[GridCell]) -> Any:
    """An area as /snapshots takes it (every status), or now and then any camera filter."""
    f = random_filter(rng, cameras, cells)
    if rng.random() < 0.7:
        kwargs = {k: getattr(f, k) for k in ("bbox", "near", "radius_m", "grid_ids", "crs")}
        f = CameraFilter(**kwargs, statuses=tuple(CAMERA_STATUSES))
    return f


def snapshot_brute_force(
    snaps: Sequence[Snapshot],
    members: set[str] | None,
    camera_uid: str | None,
    since: datetime | None,
    until: datetime | None,
) -> list[int]:
    """Snapshot ids newest first, read plainly."""
    kept = [
        s
        for s in snaps
        if (members is None or s.camera_uid in members)
        and (camera_uid is None or s.camera_uid == camera_uid)
        and (since is None or s.captured_at >= since)
        and (until is None or s.captured_at < until)
    ]
    kept.sort(key=lambda s: (s.captured_at, s.id), reverse=True)
    return [s.id for s in kept]


async def snapshot_pages(catalog: Catalog, limit: int, **kwargs: Any) -> list[int]:
    """Snapshot ids over all pages."""
    found: list[int] = []
    cursor: str | None = None
    async with catalog.sessions() as session:
        for _ in range(10_000):
            page = await list_snapshots(session, limit=limit, cursor=cursor, **kwargs)
            assert len(page.items) <= limit
            found.extend(s.id for s in page.items)
            if page.next_cursor is None:
                return found
            assert len(page.items) == limit
            cursor = page.next_cursor
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("snapshot_plan", sorted(SNAPSHOT_PLANS))
async def test_snapshot_searches_match_brute_force(
    catalog: Catalog, snapshot_plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SNAPSHOT_PLANS[snapshot_plan]
    if "interval" in settings:
        monkeypatch.setattr(snapshots, "_INTERVAL_S", settings["interval"])
    if "area_cap" in settings:
        monkeypatch.setattr(snapshots, "AREA_CAP", settings["area_cap"])
    rng = random.Random(f"snapshots/{snapshot_plan}")
    rows, cameras, cells = random_catalog(rng, 120)
    snaps = random_snapshots(rng, cameras)
    await add_all(catalog, [*rows, *snaps])
    checked = 0
    for _ in range(40):
        area = area_filter(rng, cameras, cells) if rng.random() < 0.85 else None
        members = None if area is None else {uid for uid, _ in brute_force(cameras, cells, area)}
        one = rng.choice(cameras).uid if rng.random() < 0.15 else None
        since = T0 + timedelta(minutes=rng.randrange(600)) if rng.random() < 0.5 else None
        until = T0 + timedelta(minutes=rng.randrange(600)) if rng.random() < 0.5 else None
        if since is not None and until is not None and until < since:
            since, until = until, since
        expected = snapshot_brute_force(snaps, members, one, since, until)
        limit = rng.choice([2, 7, 50, 1000])
        found = await snapshot_pages(
            catalog, limit, area=area, camera_uid=one, since=since, until=until
        )
        assert found == expected, (area, one, since, until, limit)
        checked += bool(expected)
    assert checked > 15


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


# A bbox in another CRS is prefiltered by a box of its own size.


def test_crs_offsets_change_slowly() -> None:
    """The bound `wgs84_prefilter` relies on, with room to spare (measured slopes < 0.025)."""
    rng = random.Random(11)
    for crs in ("gcj02", "bd09"):
        worst = 0.0
        for _ in range(40_000):
            x, y = rng.uniform(74.0, 134.5), rng.uniform(4.5, 53.0)
            if rng.random() < 0.1:
                x = 105.0 + rng.uniform(-1e-3, 1e-3)  # the square-root term of GCJ-02
            step = 10 ** rng.uniform(-7, -0.5)
            x2, y2 = x + rng.uniform(-step, step), y + rng.uniform(-step, step)
            if out_of_china(x2, y2):
                continue
            ax, ay = from_wgs84(crs, x, y)
            bx, by = from_wgs84(crs, x2, y2)
            change = max(abs((ax - x) - (bx - x2)), abs((ay - y) - (by - y2)))
            distance = max(abs(x - x2), abs(y - y2))
            worst = max(worst, (change - CRS_SLACK_DEG / 10) / distance)
        assert worst < CRS_SLOPE / 2, crs


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_the_crs_prefilter_holds_every_point_of_the_box(crs: str) -> None:
    rng = random.Random(crs)
    for _ in range(400):
        size = 10 ** rng.uniform(-4, 0)
        x0, y0 = rng.uniform(73.0, 135.0), rng.uniform(3.5, 53.5)
        box = (x0, y0, x0 + size * rng.random(), y0 + size * rng.random())
        px0, py0, px1, py1 = wgs84_prefilter(crs, box)
        corners = [(x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
        inside = [(rng.uniform(box[0], box[2]), rng.uniform(box[1], box[3])) for _ in range(40)]
        for x, y in corners + inside:
            # The WGS-84 point that shows at (x, y): the prefilter must hold it.
            lon, lat = to_wgs84(crs, x, y)
            sx, sy = from_wgs84(crs, lon, lat)
            if box[0] <= sx <= box[2] and box[1] <= sy <= box[3]:
                assert px0 <= lon <= px1, (box, lon, lat)
                assert py0 <= lat <= py1, (box, lon, lat)
        if not out_of_china(box[0] - 0.03, box[1] - 0.03) and not out_of_china(
            box[2] + 0.03, box[3] + 0.03
        ):
            # Inside the region the box stays about its own size, not the global margin.
            assert (px1 - px0) - (box[2] - box[0]) < 2 * CRS_SLOPE * size + 1e-4


async def test_the_snapshot_tally_follows_inserts_and_deletes(catalog: Catalog) -> None:
    rng = random.Random(3)
    rows, cameras, _ = random_catalog(rng, 20)
    snaps = random_snapshots(rng, cameras)
    await add_all(catalog, [*rows, *snaps])
    async with catalog.sessions() as session, session.begin():
        await session.execute(delete(Snapshot).where(Snapshot.id.in_([s.id for s in snaps[::3]])))
    async with catalog.sessions() as session:
        answer = await stats(session, T0)
        counted = await session.scalar(select(func.count()).select_from(Snapshot))
    assert answer["snapshots"]["total"] == counted == len(snaps) - len(snaps[::3])


SQLITE_TRIGGERS = {
    "camera_text_ai", "camera_text_ad", "camera_text_au", "camera_text_bigrams_ai",
    "camera_text_bigrams_ad", "camera_text_bigrams_au", "cameras_search_ai",
    "cameras_search_tags_au", "cameras_search_text_au", "cameras_search_ad",
    "snapshots_tally_ai", "snapshots_tally_ad",
}  # fmt: skip
PG_TRIGGERS = {
    "cameras_search_tags", "snapshots_tally_insert", "snapshots_tally_delete",
    "snapshots_tally_truncate",
}  # fmt: skip


async def test_the_search_triggers_exist_at_head(catalog: Catalog) -> None:
    """A later migration that rebuilds `cameras` or `snapshots` must recreate them."""
    async with catalog.sessions() as session:
        if catalog.dialect == "sqlite":
            found = await session.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            )
            assert set(found) >= SQLITE_TRIGGERS
        else:
            found = await session.scalars(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            )
            assert set(found) >= PG_TRIGGERS
