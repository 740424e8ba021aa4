"""The catalog side of inventories: their rows, leases, last results and summaries.

Each inventory of a department file has an `Inventory` row keyed by
(department, position in the file). Its cameras carry the source
``inventory:POSITION``. Workers lease due inventories the way they lease
cameras (`FOR UPDATE SKIP LOCKED` on PostgreSQL, `lease_until`/`lease_owner`),
renew the lease while a long fetch runs, and record each run's time, count and
error with the next due time, which releases the lease.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.grid import GridIndex
from catalog.models import Camera, Department, Inventory
from catalog.sync import SyncReport, sync_cameras

SOURCE_PREFIX = "inventory:"
PG_INVENTORY_LOCK = 7_200_283  # transaction-level advisory lock taken while registering


def inventory_source(position: int) -> str:
    """The `Camera.source` of the cameras an inventory brings."""
    return f"{SOURCE_PREFIX}{position}"


@dataclass(frozen=True)
class InventorySpec:
    """What the config says of one inventory; `label` is a URL or path without secrets."""

    department_id: str
    position: int
    kind: str
    label: str
    every_s: float


@dataclass(frozen=True)
class DueInventory:
    """A leased inventory, due for a run."""

    id: int
    department_id: str
    position: int
    kind: str
    label: str
    every_s: float
    due_at: datetime

    @property
    def source(self) -> str:
        return inventory_source(self.position)


class InventorySummary(TypedDict):
    """The last result of one inventory, as `/departments` shows it."""

    kind: str
    label: str
    last_sync_at: datetime | None
    count: int | None
    error: str | None


async def register_inventories(
    session: AsyncSession, specs: Sequence[InventorySpec], now: datetime
) -> SyncReport:
    """Make the `Inventory` rows match the config; retire the cameras of dropped inventories.

    A new inventory, or one whose kind or label changed, is due at once; a
    changed `every` applies from its last run. Specs of departments the catalog
    does not hold yet are skipped (the config sync adds departments first).
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_INVENTORY_LOCK})
    departments = set((await session.scalars(select(Department.id))).all())
    existing = {
        (r.department_id, r.position): r for r in (await session.scalars(select(Inventory)))
    }
    wanted = {(s.department_id, s.position): s for s in specs if s.department_id in departments}
    for key, spec in wanted.items():
        row = existing.get(key)
        if row is None:
            session.add(
                Inventory(
                    department_id=spec.department_id,
                    position=spec.position,
                    kind=spec.kind,
                    label=spec.label,
                    every_s=spec.every_s,
                    next_due_at=now,
                )
            )
            continue
        if (row.kind, row.label) != (spec.kind, spec.label):
            row.last_sync_at = row.last_count = row.last_error = None
            row.next_due_at = now
        elif row.every_s != spec.every_s:
            since = row.last_sync_at or now
            row.next_due_at = min(row.next_due_at, since + timedelta(seconds=spec.every_s))
        row.kind, row.label, row.every_s = spec.kind, spec.label, spec.every_s
    for key in existing.keys() - wanted.keys():
        await session.delete(existing[key])
    await session.flush()
    return await _retire_orphans(session, set(wanted), now)


async def _retire_orphans(
    session: AsyncSession, kept: set[tuple[str, int]], now: datetime
) -> SyncReport:
    """Retire cameras whose inventory source is no longer in any department file."""
    sources = await session.execute(
        select(Camera.department_id, Camera.source)
        .where(Camera.source.startswith(SOURCE_PREFIX), Camera.status != "retired")
        .distinct()
    )
    report = SyncReport()
    empty = GridIndex([])
    for department_id, source in sources.all():
        suffix = source.removeprefix(SOURCE_PREFIX)
        if suffix.isdigit() and (department_id, int(suffix)) in kept:
            continue
        report.extend(await sync_cameras(session, department_id, source, (), empty, now))
    return report


async def lease_due_inventories(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease_s: float,
    kinds: Collection[str],
) -> list[DueInventory]:
    """Lease up to `limit` due inventories of `kinds` that no live worker holds."""
    if limit <= 0 or not kinds:
        return []
    query = (
        select(Inventory)
        .where(
            Inventory.kind.in_(list(kinds)),
            Inventory.next_due_at <= now,
            or_(Inventory.lease_until.is_(None), Inventory.lease_until < now),
        )
        .order_by(Inventory.next_due_at, Inventory.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.scalars(query)).all()
    if not rows:
        return []
    await session.execute(
        update(Inventory)
        .where(Inventory.id.in_([row.id for row in rows]))
        .values(lease_until=now + timedelta(seconds=lease_s), lease_owner=owner)
    )
    return [
        DueInventory(
            id=row.id,
            department_id=row.department_id,
            position=row.position,
            kind=row.kind,
            label=row.label,
            every_s=row.every_s,
            due_at=row.next_due_at,
        )
        for row in rows
    ]


async def renew_inventory_leases(
    session: AsyncSession, ids: Collection[int], *, owner: str, until: datetime
) -> None:
    """Extend the leases `owner` still holds on `ids` (a long fetch keeps its inventory)."""
    if ids:
        await session.execute(
            update(Inventory)
            .where(Inventory.id.in_(list(ids)), Inventory.lease_owner == owner)
            .values(lease_until=until)
        )


async def hold_inventory(session: AsyncSession, inventory_id: int, owner: str) -> bool:
    """Lock the inventory's row for this transaction if `owner` still holds its lease."""
    found = await session.scalar(
        select(Inventory.id)
        .where(Inventory.id == inventory_id, Inventory.lease_owner == owner)
        .with_for_update()
    )
    return found is not None


async def record_inventory_run(
    session: AsyncSession,
    inventory_id: int,
    *,
    at: datetime,
    count: int | None,
    error: str | None,
    next_due_at: datetime,
) -> None:
    """Write one run's result and the next due time; releases the lease."""
    await session.execute(
        update(Inventory)
        .where(Inventory.id == inventory_id)
        .values(
            last_sync_at=at,
            last_count=count,
            last_error=error,
            next_due_at=next_due_at,
            lease_until=None,
            lease_owner=None,
        )
    )


async def inventory_summaries(session: AsyncSession) -> dict[str, list[InventorySummary]]:
    """Each department's inventories in file order with their last result (for /departments)."""
    rows = await session.scalars(
        select(Inventory).order_by(Inventory.department_id, Inventory.position)
    )
    summaries: dict[str, list[InventorySummary]] = {}
    for row in rows:
        summaries.setdefault(row.department_id, []).append(
            InventorySummary(
                kind=row.kind,
                label=row.label,
                last_sync_at=row.last_sync_at,
                count=row.last_count,
                error=row.last_error,
            )
        )
    return summaries
