"""Process wiring shared by the subcommands: open, migrate and sync the catalog; run services.

This is the one place that starts ingest and the API together.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import text

from api.app import ApiSettings, create_app
from api.metrics import shared_between_processes
from camgrid.api_processes import api_processes, sibling_command
from catalog.db import Catalog, migrate, open_catalog
from catalog.models import utcnow
from catalog.store import ObjectStore, open_store
from catalog.sync import SyncReport, sync_config
from config import LoadedConfig
from ingest.worker import WorkerSettings, run_worker

log = logging.getLogger("camgrid")
PG_SYNC_LOCK = 7_200_282  # transaction-level advisory lock taken while syncing config


@asynccontextmanager
async def opened_catalog(loaded: LoadedConfig, base_dir: Path) -> AsyncIterator[Catalog]:
    """The catalog named by the settings, migrated to head; closed after."""
    catalog = open_catalog(loaded.settings.database_url, base_dir=base_dir)
    try:
        await migrate(catalog)
        yield catalog
    finally:
        await catalog.close()


async def sync_catalog(catalog: Catalog, loaded: LoadedConfig) -> SyncReport:
    """Write departments, grid cells and config cameras into the catalog."""
    async with catalog.sessions() as session, session.begin():
        if catalog.dialect == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_SYNC_LOCK})
        report = await sync_config(session, loaded.departments, loaded.grid_cells, utcnow())
    log.info(
        "config synced: %d added, %d updated, %d retired, %d back",
        len(report.added),
        len(report.updated),
        len(report.retired),
        len(report.revived),
    )
    return report


@dataclass(frozen=True)
class ServeOptions:
    """What `camgrid serve` (and `demo`) runs."""

    host: str = "127.0.0.1"
    port: int = 8080
    api: bool = True
    ingest: bool = True
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    #: listen with SO_REUSEPORT, so that other API processes can share the port
    reuse_port: bool = False
    #: API processes in all: this one and `api_processes - 1` more (`camgrid.api_processes`)
    api_processes: int = 1
    #: the config folder and verbosity the extra API processes are started with
    config_dir: Path | None = None
    verbose: bool = False


def stop_on_signals(stop: asyncio.Event) -> None:
    """Set `stop` on SIGINT and SIGTERM."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


@asynccontextmanager
async def running_api(
    loaded: LoadedConfig, base_dir: Path, host: str, port: int, *, reuse_port: bool = False
) -> AsyncIterator[str]:
    """The API listening on host:port (sharing it, with `reuse_port`); yields its base URL."""
    app = create_app(
        ApiSettings(
            database_url=loaded.settings.database_url,
            store_url=loaded.settings.store_url,
            base_dir=base_dir,
        )
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        freeze_startup_heap()
        bound = runner.addresses[0][1] if runner.addresses else port
        yield f"http://{host}:{bound}/"
    finally:
        gc.unfreeze()
        await runner.cleanup()


def freeze_startup_heap() -> None:
    """Keep the objects alive once the API listens out of the collector's full passes.

    An API process holds some 190,000 objects the collector tracks (modules,
    SQLAlchemy's tables and pydantic's models among them), and a full
    collection walks them all: 70-90 ms on a 2-core machine, during which
    this process answers nobody. Frozen, they are never walked again: the
    next full collection in a bench.api run took 11 ms instead of 77. Objects
    made after this are collected as before; `running_api` thaws the frozen
    ones when the API stops.
    """
    gc.collect()
    gc.freeze()


async def serve(
    loaded: LoadedConfig,
    catalog: Catalog,
    base_dir: Path,
    options: ServeOptions,
    stop: asyncio.Event,
    on_ready: asyncio.Future[str] | None = None,
) -> None:
    """Run the API and/or the ingest worker until `stop` is set.

    With more than one API process, every process keeps its metrics where a
    scrape of any of them adds them all up (`api.metrics.shared_between_processes`).
    """
    shared = options.api and options.api_processes > 1
    store: ObjectStore = open_store(loaded.settings.store_url, base_dir=base_dir)
    try:
        with shared_between_processes() if shared else nullcontext():
            await _serve(loaded, catalog, base_dir, options, stop, on_ready, store)
    finally:
        await store.close()


async def _serve(
    loaded: LoadedConfig,
    catalog: Catalog,
    base_dir: Path,
    options: ServeOptions,
    stop: asyncio.Event,
    on_ready: asyncio.Future[str] | None,
    store: ObjectStore,
) -> None:
    async with _maybe_api(loaded, base_dir, options) as url:
        if url:
            log.info("API listening on %s", url)
        if on_ready is not None and not on_ready.done():
            on_ready.set_result(url or "")
        async with api_processes(*_siblings(options, url), base_dir, stop):
            if options.ingest:
                await run_worker(
                    loaded, catalog, store, stop, worker_settings(loaded, base_dir, options)
                )
            else:
                await stop.wait()


def _siblings(options: ServeOptions, url: str | None) -> tuple[list[str], int]:
    """The command line and count of the extra API processes, on the port `url` bound."""
    more = options.api_processes - 1
    if not url or more == 0:
        return [], 0
    if options.config_dir is None:
        raise ValueError("more API processes need ServeOptions.config_dir")
    port = urlsplit(url).port or options.port
    return sibling_command(options.config_dir, options.host, port, verbose=options.verbose), more


def worker_settings(loaded: LoadedConfig, base_dir: Path, options: ServeOptions) -> WorkerSettings:
    """The worker's tunables, with the spool the service settings name (under base_dir)."""
    if options.worker.spool_dir is not None:
        return options.worker
    return replace(
        options.worker,
        spool_dir=base_dir / loaded.settings.spool_dir,
        spool_max_bytes=loaded.settings.spool_max_bytes,
    )


@asynccontextmanager
async def _maybe_api(
    loaded: LoadedConfig, base_dir: Path, options: ServeOptions
) -> AsyncIterator[str | None]:
    if not options.api:
        yield None
        return
    reuse_port = options.reuse_port or options.api_processes > 1
    async with running_api(
        loaded, base_dir, options.host, options.port, reuse_port=reuse_port
    ) as url:
        yield url
