"""Retention: old snapshots go, rows first and objects after, in small batches.

Each department keeps its snapshots for its `defaults.retention`, or for the
service's `retention` where it sets none; with neither, forever. A camera's
latest snapshot (the one `cameras.last_snapshot_id` points at) is never
deleted, however old, so every camera keeps a picture to show.

Order: a batch of rows is deleted in one short transaction, and only then
their objects. A crash in between leaves orphan objects, which no reader can
reach (nothing points at them) and which `camgrid fsck --repair` deletes (their
keys carry a capture time past the orphan grace). The other order would leave
rows pointing at missing images, which the API would serve as errors until a
repair. Each batch is its own transaction, so retention never holds a long one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select

from catalog.db import Catalog
from catalog.models import Camera, Snapshot
from catalog.store import ObjectStore

BATCH = 500


@dataclass
class RetentionReport:
    """What one pass deleted."""

    rows: int = 0
    objects: int = 0


def department_retention(
    departments: Mapping[str, timedelta | None], default: timedelta | None
) -> dict[str, timedelta]:
    """The keep period of each department that has one (its own, else the default)."""
    keeps = {dep: keep or default for dep, keep in departments.items()}
    return {dep: keep for dep, keep in keeps.items() if keep is not None}


async def expire_batch(
    catalog: Catalog, store: ObjectStore, department: str, cutoff: datetime, limit: int = BATCH
) -> tuple[int, int]:
    """Delete up to `limit` of a department's snapshots captured before `cutoff`.

    Returns how many were found and how many deleted (fewer if one became latest).
    """
    async with catalog.sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(Snapshot.id, Snapshot.object_key, Snapshot.thumb_key)
                .join(Camera, Camera.uid == Snapshot.camera_uid)
                .where(
                    Camera.department_id == department,
                    Snapshot.captured_at < cutoff,
                    or_(Camera.last_snapshot_id.is_(None), Camera.last_snapshot_id != Snapshot.id),
                )
                .order_by(Snapshot.captured_at, Snapshot.id)
                .limit(limit)
            )
        ).all()
        if not rows:
            return 0, 0
        # Re-checked in the DELETE: a poll may have made one of them latest meanwhile.
        latest = select(Camera.last_snapshot_id).where(Camera.last_snapshot_id.is_not(None))
        deleted = (
            await session.execute(
                delete(Snapshot)
                .where(Snapshot.id.in_([row[0] for row in rows]), Snapshot.id.not_in(latest))
                .returning(Snapshot.object_key, Snapshot.thumb_key)
                .execution_options(synchronize_session=False)
            )
        ).all()
    for object_key, thumb_key in deleted:
        await store.delete(object_key)
        await store.delete(thumb_key)
    return len(rows), len(deleted)


async def expire_snapshots(
    catalog: Catalog,
    store: ObjectStore,
    keeps: Mapping[str, timedelta],
    now: datetime,
    *,
    batch: int = BATCH,
    max_batches: int | None = None,
) -> RetentionReport:
    """One retention pass over every department in `keeps`."""
    report = RetentionReport()
    done = 0
    for department, keep in sorted(keeps.items()):
        while max_batches is None or done < max_batches:
            found, deleted = await expire_batch(catalog, store, department, now - keep, batch)
            done += 1
            report.rows += deleted
            report.objects += 2 * deleted
            if found < batch:
                break
    return report
