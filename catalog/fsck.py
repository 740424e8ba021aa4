"""Consistency between catalog rows and stored objects.

Two kinds of damage: a snapshot row whose image or thumbnail is missing
(dangling row), and an object that no row points to (orphan object, e.g. a
crash between writing the object and writing its row). Repair deletes
dangling rows (repointing cameras' last snapshot) and orphan objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select, update

from catalog.db import Catalog
from catalog.models import Camera, Snapshot
from catalog.store import ObjectStore

BATCH = 1000


@dataclass
class FsckReport:
    """What fsck found (and, with repair, removed)."""

    rows_checked: int = 0
    objects_checked: int = 0
    dangling_rows: list[int] = field(default_factory=list)
    orphan_objects: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.dangling_rows and not self.orphan_objects


async def find_inconsistencies(catalog: Catalog, store: ObjectStore) -> FsckReport:
    """Compare every snapshot row with the store's keys."""
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
                if object_key not in keys or thumb_key not in keys:
                    report.dangling_rows.append(snapshot_id)
            last_id = rows[-1][0]
    report.orphan_objects = sorted(keys - referenced)
    return report


async def repair(catalog: Catalog, store: ObjectStore, report: FsckReport) -> None:
    """Delete dangling rows and orphan objects; repoint cameras at their newest good row."""
    async with catalog.sessions() as session, session.begin():
        for start in range(0, len(report.dangling_rows), BATCH):
            ids = report.dangling_rows[start : start + BATCH]
            uids = (
                await session.scalars(select(Snapshot.camera_uid).where(Snapshot.id.in_(ids)))
            ).all()
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
    for key in report.orphan_objects:
        await store.delete(key)
