"""The lower platforms a config folder lists, and each one's live state in the endpoint.

A platform is a department file's ``{kind: gb28181, device_id, password,
every, keepalive}`` inventory. Its cameras are the catalog source
``inventory:POSITION`` of that department. ``down`` is None while the platform
is registered and keeps alive, else the reason its cameras are offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from config import DepartmentConfig, Gb28181InventorySettings, LoadedConfig
from ingest.gb28181.device_catalog import CatalogAssembly, DeviceCatalog
from ingest.gb28181.endpoint import Peer
from ingest.gb28181.registrar import AuthRecord

__all__ = [
    "KEEPALIVES_MISSED",
    "MISSED_KEEPALIVES",
    "NOT_REGISTERED",
    "PlatformSpec",
    "PlatformState",
    "parse_contact",
    "platform_specs",
]

log = logging.getLogger(__name__)

MISSED_KEEPALIVES = 3
KEEPALIVES_MISSED = f"platform offline: {MISSED_KEEPALIVES} keepalives missed"
NOT_REGISTERED = "platform not registered"
UNREGISTERED = "platform unregistered"
EXPIRED = "platform offline: registration expired"


@dataclass(frozen=True)
class PlatformSpec:
    """One lower platform as its department file lists it."""

    department: DepartmentConfig
    position: int
    settings: Gb28181InventorySettings

    @property
    def device_id(self) -> str:
        """Its 20-digit id."""
        return self.settings.device_id

    @property
    def source(self) -> str:
        """The catalog source its cameras belong to."""
        return f"inventory:{self.position}"

    @property
    def keepalive_s(self) -> float:
        """The keepalive interval it was configured with."""
        return self.settings.keepalive.total_seconds()

    @property
    def every_s(self) -> float:
        """How often its whole catalog is asked for again."""
        return self.settings.every.total_seconds()


def platform_specs(loaded: LoadedConfig) -> dict[str, PlatformSpec]:
    """Every gb28181 inventory by device id; a device id listed twice keeps its first listing."""
    specs: dict[str, PlatformSpec] = {}
    for department in loaded.departments:
        for position, inventory in enumerate(department.inventories):
            if not isinstance(inventory, Gb28181InventorySettings):
                continue
            if inventory.device_id in specs:
                first = specs[inventory.device_id].department.id
                log.warning(
                    "GB/T 28181 id %s is listed by %s and %s; %s keeps it",
                    inventory.device_id,
                    first,
                    department.id,
                    first,
                )
                continue
            specs[inventory.device_id] = PlatformSpec(department, position, inventory)
    return specs


def parse_contact(text: str) -> Peer | None:
    """``udp 10.0.0.5:5060`` (as :class:`Peer` prints) back to a Peer; None if garbled."""
    transport, _, address = text.strip().partition(" ")
    host, colon, port = address.rpartition(":")
    if transport.upper() not in ("UDP", "TCP") or not colon or not port.isdigit():
        return None
    host = host.strip("[]")
    return Peer("UDP" if transport.upper() == "UDP" else "TCP", host, int(port)) if host else None


@dataclass
class PlatformState:
    """What the endpoint knows of one platform right now (loop-clock times)."""

    spec: PlatformSpec
    peer: Peer | None = None
    registered_until: float = 0.0
    last_keepalive: float = 0.0
    down: str | None = NOT_REGISTERED
    auth: AuthRecord = field(default_factory=AuthRecord)
    catalog: DeviceCatalog = field(default_factory=DeviceCatalog)
    assemblies: dict[int, CatalogAssembly] = field(default_factory=dict)
    finished: deque[int] = field(default_factory=lambda: deque(maxlen=16))  # SNs complete
    query_due: float | None = None  # when to ask for the catalog next; None: not while down
    querying: bool = False
    cseq: int = 0
    register_call_id: str = ""
    catalog_error: str | None = None
    resync: bool = False
    dirty: bool = False
    writer: asyncio.Task[None] | None = None
    pieces: asyncio.Event = field(default_factory=asyncio.Event)

    def registered(self, now: float) -> bool:
        """Its registration is still valid."""
        return self.peer is not None and self.registered_until > now

    def next_cseq(self) -> int:
        """The CSeq of our next request to it."""
        self.cseq += 1
        return self.cseq
