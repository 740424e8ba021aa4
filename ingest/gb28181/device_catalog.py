"""A lower platform's device catalog: reassembly, deltas, and the cameras it describes.

Pure code. A Catalog answer comes as many ``Response`` messages, in any
order, some twice; :class:`CatalogAssembly` keys items by DeviceID and is
complete once ``SumNum`` distinct items arrived. :class:`DeviceCatalog` is
the platform's current item set, with notifications (ADD, DEL, UPDATE, ON,
OFF, VLOST, DEFECT) applied; notifications that arrive before the first
complete answer are kept and applied after it.

Only cameras (type codes 131 and 132) become catalog cameras. Civil-code
nodes (2 to 8 digits), business groups (215), virtual organisations (216),
DVRs/NVRs and platforms are *groups*: a camera's tags are the names of the
groups above it (ParentID chain and BusinessGroupID). Other devices (alarm
inputs, displays, …) are left out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from catalog.gb28181 import decode_gb_id
from config import CameraConfig, DepartmentConfig, camera_from_inventory_row
from ingest.gb28181.manscdp import CatalogItem, ManscdpMessage

__all__ = [
    "CatalogAssembly",
    "CatalogChange",
    "DeviceCatalog",
    "GbCameras",
    "camera_status",
    "cameras_from_catalog",
    "item_role",
]

_CIVIL_CODE = re.compile(r"[0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{8}")
_SNAPSHOT_KINDS = {"http": "http", "https": "http", "rtsp": "rtsp", "rtsps": "rtsp"}
_MAX_DEPTH = 16  # of a ParentID chain; deeper (or circular) trees are cut here
DEGRADING_EVENTS = ("VLOST", "DEFECT")
Role = Literal["camera", "group", "other"]


def item_role(device_id: str) -> Role:
    """Whether a catalog item is a camera, a group (region, organisation, recorder) or neither."""
    if _CIVIL_CODE.fullmatch(device_id):
        return "group"
    decoded = decode_gb_id(device_id)
    if decoded is None:
        return "other"
    if decoded.is_camera:
        return "camera"
    code = int(decoded.type_code)
    return "group" if 111 <= code <= 130 or 200 <= code <= 299 else "other"


@dataclass
class CatalogAssembly:
    """The pieces of one Catalog answer (one SN) gathered so far."""

    sn: int
    started_at: float
    sum_num: int | None = None
    items: dict[str, CatalogItem] = field(default_factory=dict)
    messages: int = 0
    duplicates: int = 0
    last_piece_at: float = 0.0

    def add(self, message: ManscdpMessage, now: float) -> None:
        """Take one ``Response`` message; a repeated item replaces the earlier copy."""
        self.messages += 1
        self.last_piece_at = now
        if message.sum_num is not None:
            self.sum_num = message.sum_num
        for item in message.items:
            if item.device_id in self.items:
                self.duplicates += 1
            self.items[item.device_id] = item

    @property
    def complete(self) -> bool:
        """All ``SumNum`` items are here."""
        return self.sum_num is not None and len(self.items) >= self.sum_num

    def describe(self) -> str:
        """``480 of 500 items in 48 messages`` for logs and errors."""
        total = "?" if self.sum_num is None else str(self.sum_num)
        return f"{len(self.items)} of {total} items in {self.messages} messages"


@dataclass(frozen=True)
class CatalogChange:
    """What a notification changed: ``resync`` when cameras came, went or changed metadata."""

    resync: bool = False
    status_ids: frozenset[str] = frozenset()


def _merge(old: CatalogItem, new: CatalogItem) -> CatalogItem:
    """``new`` over ``old``, field by field, where ``new`` says something."""
    updates: dict[str, Any] = {}
    for spec in dataclasses.fields(new):
        value = getattr(new, spec.name)
        if value not in ("", None, False) and spec.name != "event":
            updates[spec.name] = value
    return dataclasses.replace(old, **updates)


class DeviceCatalog:
    """A platform's current items: the last complete answer with notifications applied."""

    def __init__(self) -> None:
        self.items: dict[str, CatalogItem] | None = None
        self._early: list[CatalogItem] = []

    def replace(self, items: Iterable[CatalogItem]) -> None:
        """Take a complete answer, then the notifications that came before it."""
        self.items = {item.device_id: dataclasses.replace(item, event="") for item in items}
        early, self._early = self._early, []
        self.apply(early)

    def apply(self, events: Iterable[CatalogItem]) -> CatalogChange:
        """Apply notification items in order; unknown events are ignored."""
        if self.items is None:
            self._early.extend(events)
            return CatalogChange()
        items, resync, status_ids = self.items, False, set()
        for item in events:
            old = items.get(item.device_id)
            if item.event in ("ADD", "UPDATE"):
                items[item.device_id] = dataclasses.replace(
                    _merge(old, item) if old is not None else item, event=""
                )
                resync = True
            elif item.event == "DEL":
                resync = items.pop(item.device_id, None) is not None or resync
            elif item.event in ("ON", "OFF", *DEGRADING_EVENTS) and old is not None:
                items[item.device_id] = dataclasses.replace(old, status=item.event)
                status_ids.add(item.device_id)
        return CatalogChange(resync, frozenset(status_ids))


@dataclass(frozen=True)
class GbCameras:
    """The cameras a catalog describes, GB details by uid, and items that could not be used."""

    cameras: list[CameraConfig]
    details: dict[str, dict[str, Any]]
    problems: list[str]


def _groups(item: CatalogItem, items: Mapping[str, CatalogItem]) -> list[str]:
    """Names of the groups above ``item``, nearest first, without repeats."""
    names: list[str] = []
    queue = [p for p in re.split(r"[/,]", item.parent_id) if p] + [item.business_group_id]
    seen: set[str] = set()
    while queue and len(seen) < _MAX_DEPTH:
        parent_id = queue.pop(0)
        if not parent_id or parent_id in seen:
            continue
        seen.add(parent_id)
        parent = items.get(parent_id)
        if parent is None or item_role(parent_id) != "group":
            continue
        if parent.name.strip() and parent.name.strip() not in names:
            names.append(parent.name.strip())
        queue += [p for p in re.split(r"[/,]", parent.parent_id) if p]
        queue.append(parent.business_group_id)
    return names


def _details(item: CatalogItem, platform_id: str, groups: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "platform": platform_id,
        "manufacturer": item.manufacturer,
        "model": item.model,
        "owner": item.owner,
        "civil_code": item.civil_code,
        "parent_id": item.parent_id,
        "business_group_id": item.business_group_id,
        "ptz_type": item.ptz_type,
        "groups": groups,
    }
    return {key: value for key, value in values.items() if value}


def cameras_from_catalog(
    department: DepartmentConfig, platform_id: str, items: Mapping[str, CatalogItem]
) -> GbCameras:
    """Camera configs for the camera items, in DeviceID order, with the department's defaults.

    Coordinates are taken to be in the department's ``defaults.crs``; a snapshot
    address (an extension some platforms add) makes an ``http`` or ``rtsp``
    camera, otherwise the camera is metadata only.
    """
    cameras: list[CameraConfig] = []
    details: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for device_id in sorted(items):
        item = items[device_id]
        if item_role(device_id) != "camera":
            continue
        url = item.snapshot_url or None
        scheme = url.split("://", 1)[0].lower() if url and "://" in url else ""
        kind = _SNAPSHOT_KINDS.get(scheme)
        located = item.longitude is not None and item.latitude is not None
        try:
            camera = camera_from_inventory_row(
                department,
                id=device_id,
                name=item.name,
                address=item.address,
                lon=item.longitude if located else None,
                lat=item.latitude if located else None,
                snapshot_url=url if kind else None,
                snapshot_kind=kind,
            )
        except ValueError as exc:
            problems.append(str(exc))
            continue
        groups = _groups(item, items)
        cameras.append(dataclasses.replace(camera, tags=tuple(groups)))
        details[camera.uid] = _details(item, platform_id, groups)
    return GbCameras(cameras, details, problems)


def camera_status(item: CatalogItem | None, platform_down: str | None) -> tuple[str, str]:
    """A camera's status and reason from its platform's state and its own reported status."""
    if platform_down is not None:
        return "offline", platform_down
    status = item.status if item is not None else ""
    if status in ("OFF", "OFFLINE"):
        return "offline", "device reports OFF"
    if status in DEGRADING_EVENTS:
        return "degraded", f"device reports {status}"
    return "online", "platform reports ON"
