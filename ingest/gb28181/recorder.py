"""Writing one lower platform's state into the catalog, from a snapshot of it.

The bridge takes a :class:`PlatformSnapshot` (registration, reason it is
down, its current items) and :func:`record_platform` writes it in one
transaction: the registration binding, the cameras (only when the items
changed: ``resync``), the inventory's last result, and every camera's status,
with a status event for each change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from catalog.db import Catalog
from catalog.gb28181_platforms import (
    drop_binding,
    record_platform_catalog,
    set_camera_statuses,
    source_camera_uids,
    sync_gb_cameras,
    write_binding,
)
from catalog.grid import GridIndex
from ingest.gb28181.device_catalog import camera_status, cameras_from_catalog, item_role
from ingest.gb28181.manscdp import CatalogItem
from ingest.gb28181.platforms import PlatformSpec

__all__ = ["PlatformSnapshot", "record_platform"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlatformSnapshot:
    """A platform's state at one moment; ``contact`` is None when it is not registered."""

    spec: PlatformSpec
    contact: str | None
    registered_until: datetime | None
    down: str | None
    items: Mapping[str, CatalogItem] | None
    resync: bool
    catalog_error: str | None


async def _statuses(session: AsyncSession, state: PlatformSnapshot) -> dict[str, tuple[str, str]]:
    spec, prefix = state.spec, f"{state.spec.department.id}:"
    if state.items is not None:
        return {
            prefix + device_id: camera_status(item, state.down)
            for device_id, item in state.items.items()
            if item_role(device_id) == "camera"
        }
    if state.down is None:
        return {}  # registered, catalog not known yet: leave the cameras as they are
    uids = await source_camera_uids(session, spec.department.id, spec.source)
    return {uid: ("offline", state.down) for uid in uids}


async def _sync(
    session: AsyncSession,
    grid: GridIndex,
    state: PlatformSnapshot,
    items: Mapping[str, CatalogItem],
    now: datetime,
) -> int:
    spec = state.spec
    found = cameras_from_catalog(spec.department, spec.device_id, items)
    for problem in found.problems:
        log.info("%s catalog: %s", spec.device_id, problem)
    report = await sync_gb_cameras(
        session, spec.department.id, spec.source, found.cameras, found.details, grid, now
    )
    log.info(
        "%s synced: %d added, %d updated, %d retired",
        spec.device_id,
        len(report.added),
        len(report.updated),
        len(report.retired),
    )
    return len(found.cameras)


async def record_platform(
    catalog: Catalog, grid: GridIndex, state: PlatformSnapshot, now: datetime
) -> None:
    """Write ``state`` in one transaction (see the module docstring)."""
    spec = state.spec
    async with catalog.sessions() as session, session.begin():
        if state.contact is not None and state.registered_until is not None:
            state_text = state.down or "online"
            until = state.registered_until
            await write_binding(session, spec.device_id, state.contact, state_text, until)
        else:
            await drop_binding(session, spec.device_id)
        if state.resync:
            count = None
            if state.items is not None:
                count = await _sync(session, grid, state, state.items, now)
            await record_platform_catalog(
                session,
                spec.department.id,
                spec.position,
                label=f"sip:{spec.device_id}",
                every_s=spec.every_s,
                now=now,
                count=count,
                error=state.catalog_error,
            )
        wanted = await _statuses(session, state)
        await set_camera_statuses(session, spec.department.id, spec.source, wanted, now)
