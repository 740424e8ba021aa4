"""Every route of the API, in the order they are registered and documented."""

from __future__ import annotations

from typing import Final

from api.routes import cameras, captures, images, overrides, overview, snapshots, system
from api.routing import Route

__all__ = ["ALL_ROUTES"]

ALL_ROUTES: Final[tuple[Route, ...]] = (
    *cameras.ROUTES,
    *overrides.ROUTES,
    *captures.ROUTES,
    *snapshots.ROUTES,
    *images.ROUTES,
    *overview.ROUTES,
    *system.ROUTES,
)
