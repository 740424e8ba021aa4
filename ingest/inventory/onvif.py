"""``onvif`` inventories: one ONVIF device that describes itself as one camera.

The fetch asks the device service at ``url`` for ``GetDeviceInformation``
(manufacturer, model, firmware, serial number) and for the snapshot URI of its
first media profile (``GetCapabilities``, ``GetProfiles``, ``GetSnapshotUri``), with
the department's ``defaults.auth`` as the WS-Security account and its ``timeout``
for the whole exchange. The one row it returns is an ``http`` camera: its id is the
inventory's ``id`` or else the serial number, its name the inventory's ``name`` or
else the model, and ``extra`` keeps what the device said about itself.

A device that answers its information but has no snapshot (a fault on the Media
calls) still gives its row, without a snapshot URL; an unreachable device, refused
credentials or a timeout fail the fetch, which retires nothing.
"""

from __future__ import annotations

import asyncio

from config import DepartmentConfig, InventorySettings, OnvifInventorySettings
from config.fields import check_camera_id
from ingest.connectors.base import BadResponse, SnapshotError
from ingest.connectors.onvif_soap import DeviceInformation, OnvifClient, OnvifCredentials
from ingest.inventory.base import (
    InventoryContext,
    InventoryError,
    InventoryResult,
    InventoryRow,
    RowProblem,
)
from ingest.inventory.http_json import public_url


def device_extra(info: DeviceInformation) -> dict[str, str]:
    """What the device said about itself, without the empty answers."""
    extra = {
        "manufacturer": info.manufacturer,
        "model": info.model,
        "firmware": info.firmware,
        "serial": info.serial,
        "hardware_id": info.hardware_id,
    }
    return {key: value for key, value in extra.items() if value}


class OnvifFetcher:
    """Fetches ``onvif`` inventories through the context's HTTP session."""

    def __init__(self, ctx: InventoryContext) -> None:
        self._session = ctx.session

    def _client(self, spec: OnvifInventorySettings, department: DepartmentConfig) -> OnvifClient:
        auth = department.defaults.auth
        credentials = None
        if auth.username is not None:
            password = auth.password.get_secret_value() if auth.password is not None else ""
            credentials = OnvifCredentials(auth.username, password)
        try:
            return OnvifClient(
                self._session, spec.url, credentials, department.defaults.timeout.total_seconds()
            )
        except SnapshotError as exc:
            raise InventoryError(f"{public_url(spec.url)}: {exc.reason}") from None

    async def fetch(self, spec: InventorySettings, department: DepartmentConfig) -> InventoryResult:
        """The device as one row; :class:`InventoryError` if it cannot be asked."""
        if not isinstance(spec, OnvifInventorySettings):
            raise TypeError(f"OnvifFetcher cannot read a {spec.kind} inventory")
        place = public_url(spec.url)
        client = self._client(spec, department)
        try:
            async with asyncio.timeout(department.defaults.timeout.total_seconds() * 2):
                info = await client.device_information()
                try:
                    snapshot_url: str | None = await client.resolve_snapshot_uri()
                except BadResponse:  # no Media service, no profile, no snapshot
                    snapshot_url = None
        except TimeoutError:
            raise InventoryError(f"{place}: timeout") from None
        except SnapshotError as exc:
            raise InventoryError(f"{place}: {exc.reason}") from None
        camera_id = spec.id or info.serial
        try:
            check_camera_id(camera_id)
        except ValueError as exc:
            where = f"{place} serial number" if spec.id is None else f"{place} id"
            return InventoryResult([], [RowProblem(where, f"{exc}; give the inventory an id")])
        row = InventoryRow(
            id=camera_id,
            name=spec.name or info.model or camera_id,
            snapshot_url=snapshot_url,
            snapshot_kind="http" if snapshot_url else None,
            extra=device_extra(info),
        )
        return InventoryResult([row])
