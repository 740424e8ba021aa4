"""The measured queries: each kind draws fresh random parameters from the catalog on every run.

A kind is a name and a `draw(rng)` that returns one ready-to-run query (an
async function of a session answering how many items it found). Camera
filters go through `find_cameras` with the list shape rendered by the
database, the wall through `find_cameras` with wall tiles (each with its
newest snapshot), snapshot searches through `list_snapshots`, exactly
as the API calls them. Two "limit" kinds measure
the least any answer of `limit` rows costs: a primary-key range scan that
reads and builds the same number of rows, with no filtering at all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.province import KINDS, STATUSES, TAGS, Province
from catalog.crs import EARTH_RADIUS_M, from_wgs84
from catalog.models import CAMERA_STATUSES, Camera, Snapshot
from catalog.queries.camera_rows import (
    RenderedCamera,
    RowShape,
    rendered_shape,
    rows_select,
    wall_shape,
)
from catalog.queries.cameras import CameraFilter, find_cameras
from catalog.queries.snapshots import list_snapshots
from catalog.queries.stats import stats

__all__ = ["LIMIT", "Kind", "Query", "camera_kinds", "snapshot_kinds"]

LIMIT: Final = 100


@dataclass(frozen=True)
class Query:
    """One query with its parameters: `run` is timed, `setup` (if any) runs first, untimed."""

    run: Callable[[AsyncSession], Awaitable[int]]
    setup: Callable[[AsyncSession], Awaitable[None]] | None = None


@dataclass(frozen=True)
class Kind:
    """One measured query kind: `draw` makes a fresh query with random parameters."""

    name: str
    draw: Callable[[random.Random], Query]
    group: str  # "camera", "snapshot", "reference" or "info"


def _metres_to_deg(metres: float, lat: float) -> tuple[float, float]:
    dlat = math.degrees(metres / EARTH_RADIUS_M)
    return dlat / max(math.cos(math.radians(lat)), 1e-6), dlat


class _Draws:
    """Random parameters drawn from a province's real cameras."""

    def __init__(self, province: Province) -> None:
        self.p = province
        self.located = [c for c in province.cameras if c["lon"] is not None]
        self.cells = [c["grid_id"] for c in province.cells]
        self.communities = sorted({c["community"] for c in province.cells})
        self.departments = [d for d, _ in province.departments]
        self.latin = [c["name"] for c in province.cameras if c["name"].isascii()]

    def camera(self, rng: random.Random) -> dict[str, Any]:
        return self.p.cameras[rng.randrange(len(self.p.cameras))]

    def box(self, rng: random.Random, metres: float, crs: str = "wgs84") -> Any:
        c = self.located[rng.randrange(len(self.located))]
        lon, lat = from_wgs84(crs, c["lon"], c["lat"])
        dx, dy = _metres_to_deg(metres / 2, lat)
        return (lon - dx, lat - dy, lon + dx, lat + dy)

    def point(self, rng: random.Random) -> tuple[float, float]:
        c = self.located[rng.randrange(len(self.located))]
        return (c["lon"], c["lat"])

    def text(self, rng: random.Random, length: int, *, hanzi: bool) -> str:
        """A substring of a random camera's name or address, of `length` characters."""
        for _ in range(1000):
            c = self.camera(rng)
            source: str = rng.choice([c["name"], c["address"] or c["name"]])
            if hanzi:
                runs = "".join(ch if ord(ch) > 0x2E80 else " " for ch in source).split()
                runs = [r for r in runs if len(r) >= length]
                if not runs:
                    continue
                source = rng.choice(runs)
            if len(source) < length:
                continue
            start = rng.randrange(len(source) - length + 1)
            return source[start : start + length]
        raise RuntimeError("no text of that length")

    def latin_text(self, rng: random.Random) -> str:
        source: str = rng.choice(self.latin)
        length = rng.randint(3, 6)
        start = rng.randrange(max(1, len(source) - length + 1))
        return source[start : start + length].swapcase()


def _listed(session: AsyncSession) -> RowShape[RenderedCamera]:
    """The shape `GET /cameras` reads: the list shape, rendered by the database."""
    return rendered_shape(session.get_bind().dialect)


def _cameras(f: CameraFilter) -> Query:
    async def run(session: AsyncSession) -> int:
        page = await find_cameras(session, f, _listed(session), limit=LIMIT)
        return len(page.items)

    return Query(run)


def _deep_cameras(f: CameraFilter, pages: int) -> Query:
    """The `pages`-th page; the set-up reads the earlier ones, untimed, for a real cursor."""
    cursor: str | None = None

    async def setup(session: AsyncSession) -> None:
        nonlocal cursor
        for _ in range(pages - 1):
            page = await find_cameras(session, f, _listed(session), limit=LIMIT, cursor=cursor)
            cursor = page.next_cursor
            if cursor is None:
                return

    async def run(session: AsyncSession) -> int:
        page = await find_cameras(session, f, _listed(session), limit=LIMIT, cursor=cursor)
        return len(page.items)

    return Query(run, setup)


def camera_kinds(province: Province) -> list[Kind]:
    """The camera filters measured, each drawing fresh random parameters per run."""
    d = _Draws(province)
    rare = [s for s in STATUSES if s != "online"]

    def kind(name: str, make: Callable[[random.Random], CameraFilter]) -> Kind:
        return Kind(name, lambda rng: _cameras(make(rng)), "camera")

    reference = Kind("limit", lambda rng: _uid_range(d.camera(rng)["uid"]), "reference")
    return [
        reference,
        kind("all", lambda rng: CameraFilter()),
        Kind(
            "all_page5",
            lambda rng: _deep_cameras(
                CameraFilter(departments=(d.camera(rng)["department_id"],)), 5
            ),
            "camera",
        ),
        kind("department", lambda rng: CameraFilter(departments=(d.camera(rng)["department_id"],))),
        kind("department_any", lambda rng: CameraFilter(departments=(rng.choice(d.departments),))),
        kind(
            "departments_3",
            lambda rng: CameraFilter(departments=tuple(rng.sample(d.departments, 3))),
        ),
        kind("status", lambda rng: CameraFilter(statuses=(rng.choice(rare),))),
        kind(
            "department_status",
            lambda rng: CameraFilter(
                departments=(d.camera(rng)["department_id"],), statuses=(rng.choice(rare),)
            ),
        ),
        kind("kind", lambda rng: CameraFilter(kinds=(rng.choice(KINDS),))),
        kind(
            "grid", lambda rng: CameraFilter(grid_ids=tuple(rng.sample(d.cells, rng.randint(1, 3))))
        ),
        kind(
            "community",
            lambda rng: CameraFilter(
                communities=tuple(rng.sample(d.communities, rng.randint(1, 2)))
            ),
        ),
        kind("tag", lambda rng: CameraFilter(tags=(rng.choice(TAGS),))),
        kind("tags_2", lambda rng: CameraFilter(tags=tuple(rng.sample(TAGS, 2)))),
        kind("bbox_1km", lambda rng: CameraFilter(bbox=d.box(rng, 1000))),
        kind("bbox_20km", lambda rng: CameraFilter(bbox=d.box(rng, 20_000))),
        kind(
            "bbox_1km_gcj02", lambda rng: CameraFilter(bbox=d.box(rng, 1000, "gcj02"), crs="gcj02")
        ),
        kind("near_500m", lambda rng: CameraFilter(near=d.point(rng), radius_m=500)),
        kind("near_5km", lambda rng: CameraFilter(near=d.point(rng), radius_m=5000)),
        kind("near_50km", lambda rng: CameraFilter(near=d.point(rng), radius_m=50_000)),
        Kind(
            "near_5km_page3",
            lambda rng: _deep_cameras(CameraFilter(near=d.point(rng), radius_m=5000), 3),
            "camera",
        ),
        kind("q_1", lambda rng: CameraFilter(q=d.text(rng, 1, hanzi=True))),
        kind("q_2", lambda rng: CameraFilter(q=d.text(rng, 2, hanzi=True))),
        kind("q_3", lambda rng: CameraFilter(q=d.text(rng, rng.randint(3, 5), hanzi=True))),
        kind("q_latin", lambda rng: CameraFilter(q=d.latin_text(rng))),
        kind("q_none", lambda rng: CameraFilter(q="".join(rng.sample("鑫鼎燚淼犇骉", 3)))),
        kind(
            "department_status_q2",
            lambda rng: CameraFilter(
                departments=(d.camera(rng)["department_id"],),
                statuses=("online",),
                q=d.text(rng, 2, hanzi=True),
            ),
        ),
        kind(
            "bbox_status_tag",
            lambda rng: CameraFilter(
                bbox=d.box(rng, 5000), statuses=("offline", "degraded"), tags=(rng.choice(TAGS),)
            ),
        ),
    ]


def _uid_range(after: str) -> Query:
    async def run(session: AsyncSession) -> int:
        # The same rows, in the same shape, as a camera search reads.
        shape = _listed(session)
        stmt = rows_select(shape).where(Camera.uid > after).order_by(Camera.uid).limit(LIMIT + 1)
        return len([shape.make(row, None) for row in (await session.execute(stmt)).all()])

    return Query(run)


def _snapshots(
    area: CameraFilter | None,
    since: datetime | None,
    until: datetime | None,
    uid: str | None = None,
) -> Query:
    async def run(session: AsyncSession) -> int:
        page = await list_snapshots(
            session, camera_uid=uid, area=area, since=since, until=until, limit=LIMIT
        )
        return len(page.items)

    return Query(run)


def _snapshot_id_range(before: int) -> Query:
    async def run(session: AsyncSession) -> int:
        stmt = select(Snapshot).where(Snapshot.id < before).order_by(Snapshot.id.desc())
        return len(list(await session.scalars(stmt.limit(LIMIT + 1))))

    return Query(run)


def _wall(f: CameraFilter) -> Query:
    async def run(session: AsyncSession) -> int:
        page = await find_cameras(session, f, wall_shape(session.get_bind().dialect), limit=LIMIT)
        return sum(tile.snapshot_id is not None for tile in page.items)

    return Query(run)


def _stats(now: datetime) -> Query:
    async def run(session: AsyncSession) -> int:
        return len(await stats(session, now))

    return Query(run)


def snapshot_kinds(
    province: Province, span: tuple[datetime, datetime], snapshots: int
) -> list[Kind]:
    """The snapshot searches measured; windows fall at random inside the history `span`."""
    d = _Draws(province)
    first, last = span
    every = tuple(CAMERA_STATUSES)

    def window(rng: random.Random, length: timedelta) -> tuple[datetime, datetime]:
        room = max((last - first - length).total_seconds(), 0.0)
        start = first + timedelta(seconds=rng.uniform(0, room))
        return start, start + length

    hour, day = timedelta(hours=1), timedelta(days=1)

    def area(name: str, make: Callable[[random.Random], CameraFilter], length: timedelta) -> Kind:
        return Kind(name, lambda rng: _snapshots(make(rng), *window(rng, length)), "snapshot")

    return [
        Kind(
            "snap_limit", lambda rng: _snapshot_id_range(rng.randint(LIMIT, snapshots)), "reference"
        ),
        Kind(
            "snap_camera_day",
            lambda rng: _snapshots(None, *window(rng, day), uid=d.camera(rng)["uid"]),
            "snapshot",
        ),
        area(
            "snap_bbox_2km_1h",
            lambda rng: CameraFilter(bbox=d.box(rng, 2000), statuses=every),
            hour,
        ),
        area(
            "snap_bbox_2km_1d", lambda rng: CameraFilter(bbox=d.box(rng, 2000), statuses=every), day
        ),
        area(
            "snap_bbox_20km_1h",
            lambda rng: CameraFilter(bbox=d.box(rng, 20_000), statuses=every),
            hour,
        ),
        area(
            "snap_grid_1h",
            lambda rng: CameraFilter(grid_ids=(rng.choice(d.cells),), statuses=every),
            hour,
        ),
        area(
            "snap_near_1km_1h",
            lambda rng: CameraFilter(near=d.point(rng), radius_m=1000, statuses=every),
            hour,
        ),
        Kind("snap_all_1h", lambda rng: _snapshots(None, *window(rng, hour)), "snapshot"),
        Kind(
            "wall",
            lambda rng: _wall(CameraFilter(departments=(d.camera(rng)["department_id"],))),
            "snapshot",
        ),
        Kind("stats", lambda rng: _stats(last), "info"),
    ]
