"""Inventory fetchers: one per inventory ``kind``, behind :class:`InventoryFetcher`.

:data:`INVENTORY_FETCHERS` is the explicit registry of the kinds camgrid pulls;
each value builds a fetcher from an :class:`InventoryContext`. ``gb28181``
inventories are not fetched -- the lower platform registers with the SIP
endpoint and pushes its catalog (:data:`PUSHED_KINDS`). Running an inventory
(fetch, rows to cameras, catalog sync) lives in :mod:`ingest.inventory.sync`.
"""

from ingest.inventory.base import (
    InventoryContext,
    InventoryError,
    InventoryFactory,
    InventoryFetcher,
    InventoryResult,
    InventoryRow,
    RowProblem,
)
from ingest.inventory.csvfile import CsvFetcher, read_csv_inventory
from ingest.inventory.http_json import HttpJsonFetcher
from ingest.inventory.onvif import OnvifFetcher
from ingest.inventory.xlsx import XlsxFetcher, read_xlsx_inventory

#: fetchers keyed by inventory ``kind``
INVENTORY_FETCHERS: dict[str, InventoryFactory] = {
    "http_json": HttpJsonFetcher,
    "csv": CsvFetcher,
    "xlsx": XlsxFetcher,
    "onvif": OnvifFetcher,
}

PUSHED_KINDS: frozenset[str] = frozenset({"gb28181"})
"""Inventory kinds fed by a peer that calls us (the SIP endpoint), never fetched."""


def make_fetchers(ctx: InventoryContext) -> dict[str, InventoryFetcher]:
    """One fetcher of every registered kind, sharing ``ctx``."""
    return {kind: factory(ctx) for kind, factory in INVENTORY_FETCHERS.items()}


__all__ = [
    "INVENTORY_FETCHERS",
    "PUSHED_KINDS",
    "CsvFetcher",
    "HttpJsonFetcher",
    "InventoryContext",
    "InventoryError",
    "InventoryFactory",
    "InventoryFetcher",
    "InventoryResult",
    "InventoryRow",
    "RowProblem",
    "XlsxFetcher",
    "make_fetchers",
    "read_csv_inventory",
    "read_xlsx_inventory",
]
