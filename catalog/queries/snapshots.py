"""Snapshot listings: newest first, by camera or by area, within a time window.

Order is `captured_at` descending, then `id` descending; `since` is
inclusive and `until` exclusive. An area is any `CameraFilter`; a snapshot
listing by area includes the snapshots of cameras retired since (history is
never dropped) when the filter's `statuses` says so.

Two ways to find a page, chosen by how many cameras the area holds:

- a few (up to `AREA_CAP`): through `(camera_uid, captured_at, id)`, one
  index range per camera, over time slices that grow backwards from the
  upper bound until the page is full, so the work stays near one page
  whatever the window;
- many (or no area): backwards through `(captured_at, id, camera_uid)`,
  keeping the rows of the area's cameras, which stops at the page's end.

Both read index keys only; the page's rows are fetched by id at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Camera, Snapshot
from catalog.queries.camera_filters import (
    CameraFilter,
    one_of,
    python_check,
    sql_conditions,
    unindexed,
)
from catalog.queries.cameras import matching_uids
from catalog.queries.cursors import decode_cursor, decode_time, encode_cursor, encode_time

__all__ = [
    "AREA_CAP",
    "SnapshotPage",
    "get_snapshot",
    "latest_snapshot",
    "list_snapshots",
]

#: Areas of up to this many cameras are read camera by camera. Each camera
#: costs a seek into a large index (often a disk read), the newest-first scan
#: about page * cameras / area index entries side by side: they meet near
#: sqrt(page * cameras * scan cost / seek cost), a few hundred at 200,000.
AREA_CAP: Final = 400
#: The snapshot interval assumed when sizing the first time slice; a wrong guess
#: only costs more (or fewer) slices.
_INTERVAL_S: Final = 300.0

Key = tuple[datetime, int]


@dataclass(frozen=True)
class SnapshotPage:
    """One page of snapshots and the cursor of the next one (None on the last page)."""

    items: list[Snapshot]
    next_cursor: str | None


def _before(key: Key) -> ColumnElement[bool]:
    """Strictly after `key` in newest-first order: older, or as old with a smaller id."""
    at, last_id = key
    return or_(Snapshot.captured_at < at, and_(Snapshot.captured_at == at, Snapshot.id < last_id))


def _member(dialect: str, uids: Select[str]) -> ColumnElement[bool]:
    """`Snapshot.camera_uid` is among `uids`, tested row by row against a hash of them.

    SQLite builds a temporary index of an IN subquery by itself; `+column`
    keeps it from starting at the cameras instead of at the time index.
    PostgreSQL would turn it into a join and may probe the cameras once per
    snapshot; `IS TRUE` keeps it a subplan, which PostgreSQL hashes once.
    """
    if dialect == "sqlite":
        member: ColumnElement[bool] = unindexed(Snapshot.camera_uid).in_(uids)
        return member
    return Snapshot.camera_uid.in_(uids).is_(true())


def _uid_in(dialect: str, uids: Sequence[str]) -> ColumnElement[bool]:
    """`Snapshot.camera_uid` is one of `uids`, as one parameter however many there are."""
    if dialect == "sqlite":
        return one_of(dialect, unindexed(Snapshot.camera_uid), uids)
    unnest = func.unnest(bindparam("area_uids", list(uids), type_=ARRAY(String)))
    return _member(dialect, select(unnest))


async def list_snapshots(
    session: AsyncSession,
    *,
    camera_uid: str | None = None,
    area: CameraFilter | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> SnapshotPage:
    """Snapshots newest first, of one camera and/or of the cameras matching `area`.

    Raises `InvalidCursor` for a cursor this ordering did not hand out.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    after: Key | None = None
    if cursor is not None:
        at_raw, last_id = decode_cursor(cursor, "snap", (str, int))
        after = (decode_time(at_raw), int(last_id))
    window = _Window(since, until, after, limit + 1)
    if area is None:
        cameras = None if camera_uid is None else [camera_uid]
    else:
        cameras = await matching_uids(session, area)
        if cameras is not None and camera_uid is not None:
            cameras = [uid for uid in cameras if uid == camera_uid]
    dialect = session.get_bind().dialect.name
    if cameras is not None and len(cameras) <= AREA_CAP:
        keys = await _by_cameras(session, cameras, window)
    else:
        members = []
        if cameras is not None:
            members.append(_uid_in(dialect, cameras))
        elif area is not None:
            members.append(await _area_members(session, area))
        if camera_uid is not None:
            members.append(Snapshot.camera_uid == camera_uid)
        keys = await _by_time(session, members, window)
    found = await _rows(session, [i for _, i in keys[: limit + 1]])
    if len(found) > limit:
        last = found[limit - 1]
        return SnapshotPage(
            found[:limit], encode_cursor("snap", encode_time(last.captured_at), last.id)
        )
    return SnapshotPage(found, None)


@dataclass(frozen=True)
class _Window:
    """[since, until), past the cursor key `after`, `want` keys wanted."""

    since: datetime | None
    until: datetime | None
    after: Key | None
    want: int

    def bounds(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.since is not None:
            conds.append(Snapshot.captured_at >= self.since)
        if self.until is not None:
            conds.append(Snapshot.captured_at < self.until)
        if self.after is not None:
            conds.append(_before(self.after))
        return conds


def _newest_first(*conds: ColumnElement[bool], limit: int) -> Any:
    return (
        select(Snapshot.captured_at, Snapshot.id)
        .where(*conds)
        .order_by(Snapshot.captured_at.desc(), Snapshot.id.desc())
        .limit(limit)
    )


async def _by_time(
    session: AsyncSession, members: list[ColumnElement[bool]], window: _Window
) -> list[Key]:
    stmt = _newest_first(*members, *window.bounds(), limit=window.want)
    return [(at, i) for at, i in (await session.execute(stmt)).all()]


async def _by_cameras(session: AsyncSession, uids: list[str], window: _Window) -> list[Key]:
    """The newest keys of a few cameras, slice by slice backwards in time.

    One camera needs no slices: its index range is already newest first.
    """
    if not uids:
        return []
    if len(uids) == 1:
        return await _by_time(session, [Snapshot.camera_uid == uids[0]], window)
    top = window.until
    if window.after is not None and (top is None or window.after[0] < top):
        top = window.after[0] + timedelta(microseconds=1)
    earliest = window.since
    if earliest is None:
        earliest = await session.scalar(select(func.min(Snapshot.captured_at)))
        if earliest is None:
            return []
    if top is None:
        top = await session.scalar(select(func.max(Snapshot.captured_at)))
        if top is None:
            return []
        top += timedelta(microseconds=1)
    member = Snapshot.camera_uid.in_(uids)
    span = timedelta(seconds=max(2.0 * window.want * _INTERVAL_S / len(uids), 1.0))
    keys: list[Key] = []
    high = top
    while True:
        low = max(high - span, earliest)
        conds = [member, *window.bounds(), Snapshot.captured_at >= low]
        if high < top:
            conds.append(Snapshot.captured_at < high)
        stmt = _newest_first(*conds, limit=window.want - len(keys))
        keys.extend((at, i) for at, i in (await session.execute(stmt)).all())
        if len(keys) >= window.want or low <= earliest:
            return keys
        high, span = low, span * 4


async def _area_members(session: AsyncSession, area: CameraFilter) -> ColumnElement[bool]:
    """`Snapshot.camera_uid` belongs to a camera of a large `area`."""
    dialect = session.get_bind().dialect.name
    conds = sql_conditions(area, dialect)
    check = python_check(area)
    if check is None:
        return _member(dialect, select(Camera.uid).where(*conds))
    rows = (await session.execute(select(Camera.uid, Camera.lon, Camera.lat).where(*conds))).all()
    return _uid_in(dialect, [uid for uid, lon, lat in rows if check(lon, lat)])


async def _rows(session: AsyncSession, ids: list[int]) -> list[Snapshot]:
    if not ids:
        return []
    found = list(await session.scalars(select(Snapshot).where(Snapshot.id.in_(ids))))
    found.sort(key=lambda s: (s.captured_at, s.id), reverse=True)
    return found


async def get_snapshot(session: AsyncSession, snapshot_id: int) -> Snapshot | None:
    """One snapshot by id, or None."""
    return await session.get(Snapshot, snapshot_id)


async def latest_snapshot(session: AsyncSession, camera_uid: str) -> Snapshot | None:
    """The newest stored snapshot of one camera, or None when it has none."""
    stmt = (
        select(Snapshot)
        .where(Snapshot.camera_uid == camera_uid)
        .order_by(Snapshot.captured_at.desc(), Snapshot.id.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()
