"""The schema of a department file (``departments/*.yaml``).

One strict model per section; each snapshot and inventory ``kind`` is its own
model joined by a discriminated union. Values reach these models after
``${ENV}`` substitution, so passwords arrive here as real secrets and are
kept as :class:`~pydantic.SecretStr`.
"""

from __future__ import annotations

import codecs
import typing
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from config.durations import PositiveDuration
from config.fields import (
    CameraId,
    DepartmentId,
    GbId,
    GridId,
    HttpUrl,
    IpNetwork,
    Latitude,
    Longitude,
    RtspUrl,
)

__all__ = [
    "CRS",
    "INVENTORY_KINDS",
    "SNAPSHOT_KINDS",
    "AuthSettings",
    "CameraSettings",
    "CsvInventorySettings",
    "DefaultsSettings",
    "DepartmentFileSettings",
    "DepartmentInfoSettings",
    "FileSnapshotSettings",
    "Gb28181InventorySettings",
    "HttpJsonInventorySettings",
    "HttpSnapshotSettings",
    "InventoryMapSettings",
    "InventorySettings",
    "LocationSettings",
    "OnvifInventorySettings",
    "OnvifSnapshotSettings",
    "PagesSettings",
    "RtspSnapshotSettings",
    "SnapshotSettings",
    "StrictModel",
    "XlsxInventorySettings",
]

CRS = Literal["wgs84", "gcj02", "bd09"]


class StrictModel(BaseModel):
    """Base of every config model: unknown fields are errors and values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "should not be empty")
    return value


Name = Annotated[str, AfterValidator(_not_blank)]


class DepartmentInfoSettings(StrictModel):
    """``department: {id, name}``."""

    id: DepartmentId
    name: Name


class AuthSettings(StrictModel):
    """How a camera wants to be asked: ``{scheme: none|basic|digest, username, password}``."""

    scheme: Literal["none", "basic", "digest"] = "none"
    username: str | None = None
    password: SecretStr | None = None

    @model_validator(mode="after")
    def _credentials_given(self) -> AuthSettings:
        if self.scheme != "none" and (not self.username or self.password is None):
            raise PydanticCustomError(
                "auth", "{scheme} auth needs a username and a password", {"scheme": self.scheme}
            )
        return self


class DefaultsSettings(StrictModel):
    """Department-wide values every camera and inventory takes unless it overrides them."""

    crs: CRS = "wgs84"
    interval: PositiveDuration = timedelta(minutes=5)
    timeout: PositiveDuration = timedelta(seconds=10)
    auth: AuthSettings = AuthSettings()
    allow_networks: tuple[IpNetwork, ...] = ()
    retention: PositiveDuration | None = None


class LocationSettings(StrictModel):
    """``{lon, lat}`` in the department's CRS."""

    lon: Longitude
    lat: Latitude


class HttpSnapshotSettings(StrictModel):
    """A JPEG fetched over HTTP."""

    kind: Literal["http"]
    url: HttpUrl


class RtspSnapshotSettings(StrictModel):
    """One frame grabbed from an RTSP stream."""

    kind: Literal["rtsp"]
    url: RtspUrl


class OnvifSnapshotSettings(StrictModel):
    """An ONVIF device: GetSnapshotUri, then HTTP. ``url`` is the device service address."""

    kind: Literal["onvif"]
    url: HttpUrl


class FileSnapshotSettings(StrictModel):
    """An image folder or a video file (tests and demos); relative to the department file."""

    kind: Literal["file"]
    path: Path


SnapshotSettings = Annotated[
    HttpSnapshotSettings | RtspSnapshotSettings | OnvifSnapshotSettings | FileSnapshotSettings,
    Field(discriminator="kind"),
]


class CameraSettings(StrictModel):
    """One camera as a department file lists it; unset overrides take the defaults."""

    id: CameraId
    name: Name
    address: str = ""
    location: LocationSettings | None = None
    snapshot: SnapshotSettings
    tags: tuple[Name, ...] = ()
    crs: CRS | None = None
    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    auth: AuthSettings | None = None
    grid: GridId | None = None


class InventoryMapSettings(StrictModel):
    """Which column or JSON field holds each camera attribute; only ``id`` is required."""

    id: Name
    name: Name | None = None
    lon: Name | None = None
    lat: Name | None = None
    address: Name | None = None
    snapshot_url: Name | None = None


class PagesSettings(StrictModel):
    """Page-number paging: the fetch stops at the first page shorter than ``size``."""

    param: Name
    size_param: Name
    size: int = Field(gt=0)
    start: int = Field(default=1, ge=0)


def _dotted_path(value: str) -> str:
    if value and not all(part.strip() for part in value.split(".")):
        raise PydanticCustomError("dotted_path", "should be a dotted path such as data.list")
    return value


class HttpJsonInventorySettings(StrictModel):
    """A JSON API of the department's platform.

    ``items`` is the dotted path to the list in each answer (``data.list``);
    empty when the answer itself is the list.
    """

    kind: Literal["http_json"]
    url: HttpUrl
    every: PositiveDuration
    items: Annotated[str, AfterValidator(_dotted_path)] = ""
    pages: PagesSettings | None = None
    map: InventoryMapSettings


def _known_encoding(value: str | None) -> str | None:
    if value is not None:
        try:
            codecs.lookup(value)
        except LookupError:
            raise PydanticCustomError(
                "encoding", "unknown encoding '{value}'", {"value": value}
            ) from None
    return value


class CsvInventorySettings(StrictModel):
    """A CSV export; ``path`` is relative to the department file; encoding detected if unset."""

    kind: Literal["csv"]
    path: Path
    every: PositiveDuration
    encoding: Annotated[str | None, AfterValidator(_known_encoding)] = None
    map: InventoryMapSettings


class XlsxInventorySettings(StrictModel):
    """An Excel workbook: the named sheet, or the first one."""

    kind: Literal["xlsx"]
    path: Path
    every: PositiveDuration
    sheet: Name | None = None
    map: InventoryMapSettings


class Gb28181InventorySettings(StrictModel):
    """A GB/T 28181 lower platform that registers with us and answers Catalog queries."""

    kind: Literal["gb28181"]
    device_id: GbId
    password: SecretStr
    every: PositiveDuration
    keepalive: PositiveDuration = timedelta(seconds=60)


class OnvifInventorySettings(StrictModel):
    """One ONVIF device whose GetDeviceInformation names a camera."""

    kind: Literal["onvif"]
    url: HttpUrl
    every: PositiveDuration
    id: CameraId | None = None
    name: Name | None = None


InventorySettings = Annotated[
    HttpJsonInventorySettings
    | CsvInventorySettings
    | XlsxInventorySettings
    | Gb28181InventorySettings
    | OnvifInventorySettings,
    Field(discriminator="kind"),
]


class DepartmentFileSettings(StrictModel):
    """A whole department file."""

    department: DepartmentInfoSettings
    defaults: DefaultsSettings = DefaultsSettings()
    cameras: tuple[CameraSettings, ...] = ()
    inventories: tuple[InventorySettings, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """``cameras:`` with nothing under it means no cameras, not an error."""
        if isinstance(data, dict):
            optional = ("defaults", "cameras", "inventories")
            return {k: v for k, v in data.items() if not (k in optional and v is None)}
        return data


def _kinds(union: Any) -> tuple[str, ...]:
    members = typing.get_args(typing.get_args(union)[0])
    return tuple(typing.get_args(m.model_fields["kind"].annotation)[0] for m in members)


SNAPSHOT_KINDS: tuple[str, ...] = _kinds(SnapshotSettings)
"""``("http", "rtsp", "onvif", "file")``: the keys a snapshot connector registry must have."""

INVENTORY_KINDS: tuple[str, ...] = _kinds(InventorySettings)
"""``("http_json", "csv", "xlsx", "gb28181", "onvif")``: the inventory connector keys."""
