"""The inventory fetcher registry covers every inventory kind of the config."""

from __future__ import annotations

from config import INVENTORY_KINDS
from ingest.inventory import INVENTORY_FETCHERS, PUSHED_KINDS


def test_registry_keys_with_pushed_and_onvif_cover_the_config_kinds() -> None:
    # gb28181 is fed by the SIP endpoint; onvif is registered by ingest/inventory/onvif.py
    assert set(INVENTORY_FETCHERS) <= set(INVENTORY_KINDS)
    assert set(INVENTORY_FETCHERS) | PUSHED_KINDS | {"onvif"} == set(INVENTORY_KINDS)
    assert not set(INVENTORY_FETCHERS) & PUSHED_KINDS
