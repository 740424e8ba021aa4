"""The aiohttp application: `create_app(settings)` wires resources, middleware and routes.

The catalog and the object store are opened when the app starts and closed
when it stops, in one `cleanup_ctx` generator. The app does not migrate the
catalog: whoever starts it (the CLI) migrates first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from api.auth import TOKEN_CACHE, TokenCache, auth_middleware
from api.context import CATALOG, OPENAPI, SETTINGS, STORE, ApiSettings
from api.metrics import METRICS, metrics_middleware, new_metrics
from api.openapi import build_openapi
from api.problems import problems_middleware
from api.routes import ALL_ROUTES
from api.routing import register
from catalog.db import open_catalog
from catalog.store import open_store

__all__ = ["MAX_BODY_BYTES", "ApiSettings", "create_app"]

#: The API's SQLite connections (threads). Searches are short and a few connections
#: keep the CPU busy: with 32 concurrent searches, 4 answered 40% more than 20 did,
#: and once searches kept their statements (`catalog.queries.camera_statements`), 2
#: spent less CPU per search in their threads than 4 (1.0-1.2 ms against 1.3; fewer
#: threads waiting for the GIL) and answered as many or more.
API_SQLITE_CONNECTIONS: Final = 2

#: The largest request body read (a PATCH is a few hundred bytes); larger ones get 413.
MAX_BODY_BYTES: Final = 64 * 1024


async def _resources(app: web.Application) -> AsyncIterator[None]:
    """Open the catalog and the store for the app's lifetime; close both after."""
    settings = app[SETTINGS]
    catalog = open_catalog(
        settings.database_url,
        base_dir=settings.base_dir,
        sqlite_connections=API_SQLITE_CONNECTIONS,
        # The API's reads are index walks of a few ms at most: a trip to a
        # connection's thread would cost a search a third of its CPU.
        sqlite_inline_reads=True,
    )
    try:
        store = open_store(settings.store_url, base_dir=settings.base_dir)
        try:
            app[CATALOG] = catalog
            app[STORE] = store
            yield
        finally:
            await store.close()
    finally:
        await catalog.close()


def create_app(settings: ApiSettings) -> web.Application:
    """The API application for `settings` (resources open when it starts)."""
    app = web.Application(
        # Outermost first: time everything, render every error, then check the token.
        middlewares=[metrics_middleware, problems_middleware, auth_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[SETTINGS] = settings
    app[TOKEN_CACHE] = TokenCache()
    app[METRICS] = new_metrics()
    register(app, ALL_ROUTES)
    app[OPENAPI] = build_openapi(ALL_ROUTES)
    app.cleanup_ctx.append(_resources)
    return app
