"""Settings, the caller's identity, and typed keys for the app's resources.

Everything a handler needs is reached through typed keys on `request.app` or
`request` (these, and the ones `api.auth`, `api.metrics` and `api.routing`
define for their own objects); the API keeps no module-level state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from catalog.db import Catalog
from catalog.store import ObjectStore

__all__ = [
    "CATALOG",
    "IDENTITY",
    "OPENAPI",
    "SETTINGS",
    "STORE",
    "ApiSettings",
    "Identity",
]


@dataclass(frozen=True)
class ApiSettings:
    """What the API needs to run: where the catalog and the objects are.

    `base_dir` resolves relative SQLite paths and `file:` store URLs. With
    `presign_images`, images are answered with a 302 to a presigned store URL
    (after the audit row) when the store can presign; the local store cannot.
    """

    database_url: str
    store_url: str
    base_dir: Path
    presign_images: bool = False


@dataclass(frozen=True)
class Identity:
    """The authenticated caller: the token's principal name, role and department."""

    name: str
    role: str
    department_id: str | None
    expires_at: datetime | None


SETTINGS = web.AppKey("settings", ApiSettings)
CATALOG = web.AppKey("catalog", Catalog)
STORE = web.AppKey("store", ObjectStore)
OPENAPI = web.AppKey("openapi", dict[str, Any])
IDENTITY = web.RequestKey("identity", Identity)
