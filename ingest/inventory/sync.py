"""Running inventories: fetch the list, turn rows into cameras, sync them into the catalog.

One run of one inventory fetches its rows, makes each a camera with the
department's defaults (`config.camera_from_inventory_row`; a row it refuses
becomes a :class:`RowProblem`), and syncs them as the source
``inventory:POSITION``: new cameras are added, changed ones updated, missing
ones retired. A fetch that fails or brings no usable camera retires nothing.
Each run records its time, count and error on the `Inventory` row with the
next due time (now + ``every``).

:class:`InventoryRunner` runs due inventories in an ingest worker, leased the
way cameras are, and :func:`preview` runs the fetch half for ``camgrid validate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy import select

from catalog.db import Catalog
from catalog.grid import GridIndex
from catalog.inventories import (
    DueInventory,
    InventorySpec,
    hold_inventory,
    inventory_source,
    lease_due_inventories,
    record_inventory_run,
    register_inventories,
    renew_inventory_leases,
)
from catalog.models import Inventory, utcnow
from catalog.netpolicy import NOT_ALLOWED, url_allowed
from catalog.sync import SyncReport, sync_cameras
from config import (
    CameraConfig,
    CsvInventorySettings,
    DepartmentConfig,
    Gb28181InventorySettings,
    InventorySettings,
    XlsxInventorySettings,
    camera_from_inventory_row,
)
from ingest.inventory import PUSHED_KINDS, make_fetchers
from ingest.inventory.base import (
    InventoryContext,
    InventoryError,
    InventoryFetcher,
    InventoryResult,
    RowProblem,
)
from ingest.inventory.http_json import public_url

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 500


def inventory_label(spec: InventorySettings) -> str:
    """How an inventory is named to people: its URL or file name, never a secret."""
    if isinstance(spec, CsvInventorySettings):
        return spec.path.name
    if isinstance(spec, XlsxInventorySettings):
        return f"{spec.path.name} ({spec.sheet})" if spec.sheet else spec.path.name
    if isinstance(spec, Gb28181InventorySettings):
        return f"sip:{spec.device_id}"  # as the SIP endpoint records it
    return public_url(spec.url)


def inventory_specs(departments: Sequence[DepartmentConfig]) -> list[InventorySpec]:
    """The `Inventory` rows the config asks for, every kind included."""
    return [
        InventorySpec(
            department.id, position, spec.kind, inventory_label(spec), spec.every.total_seconds()
        )
        for department in departments
        for position, spec in enumerate(department.inventories)
    ]


def cameras_from_result(
    department: DepartmentConfig, result: InventoryResult, label: str
) -> tuple[list[CameraConfig], list[RowProblem]]:
    """The cameras of a fetch, and its problems plus the rows the config refuses."""
    problems = list(result.problems)
    cameras: list[CameraConfig] = []
    seen: set[str] = set()
    for row in result.rows:
        where = f"{label} id {row.id}"
        networks = department.defaults.allow_networks
        if row.snapshot_url is not None and not url_allowed(row.snapshot_url, networks):
            problems.append(RowProblem(where, NOT_ALLOWED))
            continue
        try:
            camera = camera_from_inventory_row(
                department,
                id=row.id,
                name=row.name,
                address=row.address,
                lon=row.lon,
                lat=row.lat,
                snapshot_url=row.snapshot_url,
                snapshot_kind=row.snapshot_kind,
            )
        except ValueError as exc:
            problems.append(RowProblem(where, str(exc)))
            continue
        if camera.uid in seen:
            problems.append(RowProblem(where, "duplicate id"))
            continue
        seen.add(camera.uid)
        cameras.append(camera)
    return cameras, problems


async def fetch_cameras(
    fetcher: InventoryFetcher, spec: InventorySettings, department: DepartmentConfig
) -> tuple[list[CameraConfig], list[RowProblem]]:
    """Fetch one inventory and make its rows cameras; :class:`InventoryError` if it fails."""
    try:
        result = await fetcher.fetch(spec, department)
    except (InventoryError, asyncio.CancelledError):
        raise
    except Exception as exc:  # a fetcher's bug must not stop the other inventories
        log.exception("inventory fetcher failed", extra={"department": department.id})
        reason = f"internal error in the {spec.kind} fetcher ({type(exc).__name__})"
        raise InventoryError(reason) from exc
    return cameras_from_result(department, result, inventory_label(spec))


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class InventoryOutcome:
    """What one run of one inventory did."""

    department_id: str
    position: int
    count: int | None  # cameras synced (0: none usable); None when the fetch failed
    problems: list[RowProblem]
    error: str | None
    report: SyncReport | None = None  # None when nothing was synced


async def sync_inventory(
    catalog: Catalog,
    department: DepartmentConfig,
    position: int,
    fetcher: InventoryFetcher,
    grid: GridIndex,
    *,
    owner: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> InventoryOutcome:
    """Run inventory `position` of `department` once and record the result.

    Its `Inventory` row must exist (:func:`register_inventories`). With an
    `owner`, the run is recorded only if that worker still holds the lease.
    """
    spec = department.inventories[position]
    error: str | None = None
    cameras: list[CameraConfig] = []
    problems: list[RowProblem] = []
    try:
        cameras, problems = await fetch_cameras(fetcher, spec, department)
    except InventoryError as exc:
        error = exc.reason
    count = None if error is not None else len(cameras)
    if error is None and not cameras:
        error = "the list is empty; nothing retired"
        if problems:
            rejected = f"{len(problems)} row(s) rejected, first {problems[0]}"
            error = f"no usable camera; nothing retired: {rejected}"
    elif error is None and problems:
        error = f"{len(problems)} row(s) rejected, first {problems[0]}"
    error = _short(error) if error is not None else None
    now = clock()
    report: SyncReport | None = None
    async with catalog.sessions() as session, session.begin():
        inventory_id = await session.scalar(
            select(Inventory.id).where(
                Inventory.department_id == department.id, Inventory.position == position
            )
        )
        if inventory_id is None:
            raise LookupError(f"inventory {department.id}[{position}] is not registered")
        if owner is not None and not await hold_inventory(session, inventory_id, owner):
            log.warning("inventory lease lost; run dropped", extra={"department": department.id})
            return InventoryOutcome(department.id, position, None, problems, "lease lost")
        if cameras:
            source = inventory_source(position)
            report = await sync_cameras(session, department.id, source, cameras, grid, now)
        await record_inventory_run(
            session, inventory_id, at=now, count=count, error=error, next_due_at=now + spec.every
        )
    _log_outcome(department.id, spec, count, problems, error, report)
    return InventoryOutcome(department.id, position, count, problems, error, report)


def _log_outcome(
    department_id: str,
    spec: InventorySettings,
    count: int | None,
    problems: list[RowProblem],
    error: str | None,
    report: SyncReport | None,
) -> None:
    extra = {"department": department_id, "inventory": inventory_label(spec)}
    if report is None:
        log.warning("inventory not synced: %s", error, extra=extra)
        return
    log.info(
        "inventory synced: %d cameras, %d added, %d updated, %d retired, %d back, %d rejected",
        count or 0,
        len(report.added),
        len(report.updated),
        len(report.retired),
        len(report.revived),
        len(problems),
        extra=extra,
    )
    for problem in problems[:5]:
        log.warning("inventory row rejected: %s", problem, extra=extra)


# -- the runner of an ingest worker ----------------------------------------------------


@dataclass(frozen=True)
class InventoryRunnerSettings:
    """How one worker runs inventories."""

    owner: str
    lease_s: float = 15.0  # renewed every third of it while a run lasts
    concurrency: int = 4
    idle_s: float = 2.0  # how often to look for due inventories
    drain_s: float = 5.0  # on stop, how long running inventories may still finish


class InventoryRunner:
    """Runs the config's due inventories; the workers of a deployment share them by leases."""

    def __init__(
        self,
        catalog: Catalog,
        departments: Sequence[DepartmentConfig],
        grid: GridIndex,
        fetchers: Mapping[str, InventoryFetcher],
        settings: InventoryRunnerSettings,
    ) -> None:
        self._catalog = catalog
        self._departments = {department.id: department for department in departments}
        self._grid = grid
        self._fetchers = fetchers
        self._settings = settings
        self._in_flight: dict[int, asyncio.Task[InventoryOutcome | None]] = {}

    async def register(self) -> SyncReport:
        """Write the config's inventories into the catalog (at start; every worker may)."""
        specs = inventory_specs(list(self._departments.values()))
        async with self._catalog.sessions() as session, session.begin():
            return await register_inventories(session, specs, utcnow())

    async def run(self, stop: asyncio.Event) -> None:
        """Register, then run due inventories until `stop` is set."""
        tick = min(self._settings.idle_s, self._settings.lease_s / 3)
        registered = False
        while not stop.is_set():
            try:
                if not registered:
                    await self.register()
                    registered = True
                await self._start_due()
                await self._renew()
            except Exception:  # the database is away: try again next tick
                log.exception("inventory runner pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)
        await self._drain()

    async def run_once(self) -> list[InventoryOutcome]:
        """Run every inventory due now and wait for them (tests and one-shot tools)."""
        tasks = await self._start_due()
        return [outcome for outcome in await asyncio.gather(*tasks) if outcome is not None]

    async def _start_due(self) -> list[asyncio.Task[InventoryOutcome | None]]:
        free = self._settings.concurrency - len(self._in_flight)
        now = utcnow()
        async with self._catalog.sessions() as session, session.begin():
            due = await lease_due_inventories(
                session,
                owner=self._settings.owner,
                now=now,
                limit=free,
                lease_s=self._settings.lease_s,
                kinds=list(self._fetchers),
            )
            runnable = {item.id: self._runnable(item) for item in due}
            for item in due:
                if runnable[item.id] is None:  # the catalog and this worker's config disagree
                    await record_inventory_run(
                        session,
                        item.id,
                        at=now,
                        count=None,
                        error=f"not in the config of worker {self._settings.owner}",
                        next_due_at=now + timedelta(seconds=item.every_s),
                    )
        tasks = []
        for item in due:
            found = runnable[item.id]
            if found is not None:
                tasks.append(self._start(item, *found))
        return tasks

    def _runnable(self, item: DueInventory) -> tuple[DepartmentConfig, InventoryFetcher] | None:
        department = self._departments.get(item.department_id)
        if department is None or item.position >= len(department.inventories):
            return None
        kind = department.inventories[item.position].kind
        fetcher = self._fetchers.get(kind)
        return (department, fetcher) if fetcher is not None and kind == item.kind else None

    def _start(
        self, item: DueInventory, department: DepartmentConfig, fetcher: InventoryFetcher
    ) -> asyncio.Task[InventoryOutcome | None]:
        task = asyncio.create_task(
            self._run(department, item.position, fetcher),
            name=f"inventory {item.department_id}[{item.position}]",
        )
        self._in_flight[item.id] = task
        task.add_done_callback(lambda _: self._in_flight.pop(item.id, None))
        return task

    async def _run(
        self, department: DepartmentConfig, position: int, fetcher: InventoryFetcher
    ) -> InventoryOutcome | None:
        try:
            return await sync_inventory(
                self._catalog, department, position, fetcher, self._grid, owner=self._settings.owner
            )
        except Exception:  # recorded nowhere: the lease lapses and another pass retries
            log.exception("inventory run failed", extra={"department": department.id})
            return None

    async def _renew(self) -> None:
        if self._in_flight:
            until = utcnow() + timedelta(seconds=self._settings.lease_s)
            async with self._catalog.sessions() as session, session.begin():
                await renew_inventory_leases(
                    session, list(self._in_flight), owner=self._settings.owner, until=until
                )

    async def _drain(self) -> None:
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._settings.drain_s)
        for task in pending:  # their leases lapse; another worker runs them again
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- preview, for `camgrid validate` ---------------------------------------------------


@dataclass(frozen=True)
class InventoryPreview:
    """What one inventory would bring now, without touching the catalog.

    `count` is None when the inventory was not fetched: `error` says why it
    failed, or `note` why it is not fetched at all (a pushed kind).
    """

    kind: str
    label: str
    count: int | None
    problems: list[RowProblem] = field(default_factory=list)
    error: str | None = None
    note: str = ""


@contextlib.asynccontextmanager
async def open_fetchers(
    session: aiohttp.ClientSession | None = None,
) -> AsyncIterator[dict[str, InventoryFetcher]]:
    """Every registered fetcher over one HTTP session (made here unless given) and two threads."""
    executor = ThreadPoolExecutor(2, thread_name_prefix="inventory")
    try:
        if session is not None:
            yield make_fetchers(InventoryContext(session=session, executor=executor))
        else:
            async with aiohttp.ClientSession() as own:
                yield make_fetchers(InventoryContext(session=own, executor=executor))
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


async def _preview_one(
    spec: InventorySettings, department: DepartmentConfig, fetchers: Mapping[str, InventoryFetcher]
) -> InventoryPreview:
    label = inventory_label(spec)
    if spec.kind in PUSHED_KINDS:
        return InventoryPreview(spec.kind, label, None, note="fed by the SIP endpoint, not fetched")
    fetcher = fetchers.get(spec.kind)
    if fetcher is None:
        return InventoryPreview(spec.kind, label, None, note=f"no {spec.kind} fetcher yet")
    try:
        cameras, problems = await fetch_cameras(fetcher, spec, department)
    except InventoryError as exc:
        return InventoryPreview(spec.kind, label, None, error=exc.reason)
    return InventoryPreview(spec.kind, label, len(cameras), problems)


async def preview(
    department: DepartmentConfig, fetchers: Mapping[str, InventoryFetcher] | None = None
) -> list[InventoryPreview]:
    """Fetch each inventory of `department` (concurrently) and say what it would bring."""
    if fetchers is None:
        async with open_fetchers() as opened:
            return await preview(department, opened)
    return list(
        await asyncio.gather(
            *(_preview_one(spec, department, fetchers) for spec in department.inventories)
        )
    )
