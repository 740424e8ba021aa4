"""Consistency between catalog rows and stored objects.

Three kinds of damage: a snapshot row whose image is missing (dangling row),
an object that no row points to (orphan object, e.g. a crash between writing
the object and writing its row), and a row whose image is there but whose
thumbnail is not (missing thumbnail: thumbnails are stored without a sync, so
a power cut may lose one; see `catalog.store.thumbs`). Repair deletes dangling
rows (repointing cameras' last snapshot) and orphan objects, and rebuilds
missing thumbnails from their images. Only keys are compared: a thumbnail cut
short by a power cut is found, and rebuilt, by the API when it is viewed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from catalog.db import Catalog
from catalog.models import Camera, Snapshot
from catalog.store import ObjectMissing, ObjectStore
from catalog.store.thumbs import ThumbnailError, rebuild_thumbnail

log = logging.getLogger(__name__)

BATCH = 1000
#: Objects younger than this may belong to a poll whose row is not written yet.
ORPHAN_GRACE = timedelta(minutes=10)
_KEY_TIME = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})(\d{2})(\d{2})(\d{6})-[0-9a-f]{12}\.jpg$")


def key_time(key: str) -> datetime | None:
    """When the picture behind a snapshot key was captured (keys carry it), else None."""
    match = _KEY_TIME.search(key)
    if match is None:
        return None
    year, month, day, hour, minute, second, micro = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError:
        return None


@dataclass
class FsckReport:
    """What fsck found (and, with repair, removed)."""

    rows_checked: int = 0
    objects_checked: int = 0
    dangling_rows: list[int] = field(default_factory=list)
    orphan_objects: list[str] = field(default_factory=list)
    #: rows whose image is stored but whose thumbnail is not
    missing_thumbs: list[int] = field(default_factory=list)
    #: of those, the ones repair could not rebuild (their image does not decode)
    unrebuilt_thumbs: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.dangling_rows or self.orphan_objects or self.missing_thumbs)


async def find_inconsistencies(
    catalog: Catalog, store: ObjectStore, now: datetime | None = None
) -> FsckReport:
    """Compare every snapshot row with the store's keys.

    An object captured or stored less than `ORPHAN_GRACE` ago is not called an
    orphan: a running worker writes the object first and its row a moment
    later, and a worker replaying its spool after a long store outage writes
    objects captured long ago (their keys carry the capture time) just before
    their rows.
    """
    cutoff = (now or datetime.now(UTC)) - ORPHAN_GRACE
    report = FsckReport()
    keys: set[str] = set()
    for prefix in ("img/", "thumb/"):
        async for key in store.iter_keys(prefix):
            keys.add(key)
    report.objects_checked = len(keys)
    referenced: set[str] = set()
    last_id = 0
    async with catalog.sessions() as session:
        while True:
            rows = (
                await session.execute(
                    select(Snapshot.id, Snapshot.object_key, Snapshot.thumb_key)
                    .where(Snapshot.id > last_id)
                    .order_by(Snapshot.id)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                break
            for snapshot_id, object_key, thumb_key in rows:
                report.rows_checked += 1
                referenced.update((object_key, thumb_key))
                if object_key not in keys:
                    report.dangling_rows.append(snapshot_id)
                elif thumb_key not in keys:
                    report.missing_thumbs.append(snapshot_id)
            last_id = rows[-1][0]
    captured_long_ago = [key for key in keys - referenced if (key_time(key) or cutoff) <= cutoff]
    report.orphan_objects = sorted(
        [key for key in captured_long_ago if await _stored_before(store, key, cutoff)]
    )
    return report


async def _stored_before(store: ObjectStore, key: str, cutoff: datetime) -> bool:
    """Whether the object under `key` was written before `cutoff` (False once it is gone)."""
    info = await store.stat(key)
    return info is not None and info.modified <= cutoff


async def repair(catalog: Catalog, store: ObjectStore, report: FsckReport) -> None:
    """Delete dangling rows (and what is left of their objects) and orphan objects.

    Cameras whose last snapshot was deleted are repointed at their newest good row.
    Missing thumbnails are rebuilt from their images; those that cannot be are
    listed in ``report.unrebuilt_thumbs`` (their rows and images are kept).
    """
    await _rebuild_thumbnails(catalog, store, report)
    leftovers: list[str] = []
    async with catalog.sessions() as session, session.begin():
        for start in range(0, len(report.dangling_rows), BATCH):
            ids = report.dangling_rows[start : start + BATCH]
            rows = (
                await session.execute(
                    select(Snapshot.camera_uid, Snapshot.object_key, Snapshot.thumb_key).where(
                        Snapshot.id.in_(ids)
                    )
                )
            ).all()
            uids = [row[0] for row in rows]
            leftovers.extend(key for row in rows for key in row[1:])
            await session.execute(delete(Snapshot).where(Snapshot.id.in_(ids)))
            for uid in set(uids):
                newest = (
                    await session.execute(
                        select(Snapshot.id, Snapshot.captured_at, Snapshot.phash)
                        .where(Snapshot.camera_uid == uid)
                        .order_by(Snapshot.captured_at.desc(), Snapshot.id.desc())
                        .limit(1)
                    )
                ).first()
                await session.execute(
                    update(Camera)
                    .where(Camera.uid == uid)
                    .values(
                        last_snapshot_id=newest[0] if newest else None,
                        last_snapshot_at=newest[1] if newest else None,
                        last_phash=newest[2] if newest else None,
                    )
                )
    for key in [*leftovers, *report.orphan_objects]:
        await store.delete(key)


async def _rebuild_thumbnails(catalog: Catalog, store: ObjectStore, report: FsckReport) -> None:
    """Rebuild each missing thumbnail from its image, one at a time (a decode each)."""
    for start in range(0, len(report.missing_thumbs), BATCH):
        ids = report.missing_thumbs[start : start + BATCH]
        async with catalog.sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Snapshot.id,
                        Snapshot.object_key,
                        Snapshot.thumb_key,
                        Snapshot.width,
                        Snapshot.height,
                    )
                    .where(Snapshot.id.in_(ids))
                    .order_by(Snapshot.id)
                )
            ).all()
        for snapshot_id, object_key, thumb_key, width, height in rows:
            try:
                image = await store.get(object_key)
                thumb = await asyncio.to_thread(rebuild_thumbnail, image, width, height)
            except (ObjectMissing, ThumbnailError) as exc:
                log.warning("snapshot %d: thumbnail not rebuilt: %s", snapshot_id, exc)
                report.unrebuilt_thumbs.append(snapshot_id)
                continue
            await store.put(thumb_key, thumb, durable=False)
