"""The loaded config as the rest of camgrid uses it: defaults applied, paths absolute.

These are plain frozen dataclasses so that other packages never need to
know the shape of the YAML. A camera's ``auth.password`` is a
:class:`~pydantic.SecretStr`: printing a camera never shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from config.department import (
    AuthSettings,
    CameraSettings,
    CsvInventorySettings,
    DefaultsSettings,
    DepartmentFileSettings,
    FileSnapshotSettings,
    InventorySettings,
    XlsxInventorySettings,
)
from config.fields import check_camera_id, check_url
from config.grid import GridCellConfig
from config.settings import ServiceSettings

__all__ = [
    "NO_SNAPSHOT",
    "AuthConfig",
    "CameraConfig",
    "DepartmentConfig",
    "LoadedConfig",
    "build_department",
    "camera_from_inventory_row",
]

NO_SNAPSHOT = "none"
"""``snapshot_kind`` of an inventory camera that gave no snapshot URL: metadata only."""


@dataclass(frozen=True)
class AuthConfig:
    """Credentials for a camera; ``password`` is secret and never printed."""

    scheme: Literal["none", "basic", "digest"]
    username: str | None = None
    password: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> AuthConfig:
        """The dataclass form of a parsed ``auth:`` section."""
        return cls(settings.scheme, settings.username, settings.password)


@dataclass(frozen=True)
class CameraConfig:
    """One camera with its department's defaults applied (the camera's own values win).

    ``location`` is ``(lon, lat)`` as written, in ``crs``; ``snapshot_path`` is absolute;
    ``line`` is where the camera is defined in its department file (0 for inventory rows).
    """

    department: str
    id: str
    uid: str
    name: str
    address: str
    location: tuple[float, float] | None
    crs: str
    interval_s: float
    timeout_s: float
    auth: AuthConfig
    snapshot_kind: str
    snapshot_url: str | None
    snapshot_path: Path | None
    tags: tuple[str, ...]
    grid: str | None
    line: int


@dataclass(frozen=True)
class DepartmentConfig:
    """One department file: ``file`` is absolute; inventory paths are resolved against it."""

    id: str
    name: str
    file: Path
    defaults: DefaultsSettings
    cameras: tuple[CameraConfig, ...]
    inventories: tuple[InventorySettings, ...]


@dataclass(frozen=True)
class LoadedConfig:
    """Everything in a config folder, valid."""

    root: Path
    settings: ServiceSettings
    departments: tuple[DepartmentConfig, ...]
    grid_cells: tuple[GridCellConfig, ...]


def build_department(
    settings: DepartmentFileSettings, file: Path, lines: list[int]
) -> DepartmentConfig:
    """Apply defaults to each camera; ``lines[i]`` is where camera ``i`` is defined."""
    department_id = settings.department.id
    defaults = settings.defaults
    cameras = tuple(
        _camera(department_id, defaults, camera, file, line)
        for camera, line in zip(settings.cameras, lines, strict=True)
    )
    inventories = tuple(_resolve_inventory(item, file.parent) for item in settings.inventories)
    return DepartmentConfig(
        department_id, settings.department.name, file, defaults, cameras, inventories
    )


def _resolve_inventory(item: InventorySettings, folder: Path) -> InventorySettings:
    if isinstance(item, CsvInventorySettings | XlsxInventorySettings):
        return item.model_copy(update={"path": (folder / item.path).resolve()})
    return item


def _camera(
    department: str, defaults: DefaultsSettings, camera: CameraSettings, file: Path, line: int
) -> CameraConfig:
    snapshot = camera.snapshot
    url: str | None = None
    path: Path | None = None
    if isinstance(snapshot, FileSnapshotSettings):
        path = (file.parent / snapshot.path).resolve()
    else:
        url = snapshot.url
    location = (camera.location.lon, camera.location.lat) if camera.location is not None else None
    return CameraConfig(
        department=department,
        id=camera.id,
        uid=f"{department}:{camera.id}",
        name=camera.name,
        address=camera.address,
        location=location,
        crs=camera.crs or defaults.crs,
        interval_s=(camera.interval or defaults.interval).total_seconds(),
        timeout_s=(camera.timeout or defaults.timeout).total_seconds(),
        auth=AuthConfig.from_settings(camera.auth or defaults.auth),
        snapshot_kind=snapshot.kind,
        snapshot_url=url,
        snapshot_path=path,
        tags=camera.tags,
        grid=camera.grid,
        line=line,
    )


def camera_from_inventory_row(
    department: DepartmentConfig,
    *,
    id: str,
    name: str,
    address: str = "",
    lon: float | None = None,
    lat: float | None = None,
    snapshot_url: str | None = None,
    snapshot_kind: str | None = None,
) -> CameraConfig:
    """A camera from one inventory row, with the department's defaults applied.

    A ``snapshot_url`` makes an ``http`` camera unless ``snapshot_kind`` says
    otherwise (``rtsp``, ``onvif``); without one the camera is metadata only
    (``snapshot_kind`` :data:`NO_SNAPSHOT`). Raises ``ValueError`` with a
    message fit for an inventory sync's error column.
    """
    check_camera_id(id)
    if (lon is None) != (lat is None):
        raise ValueError(f"camera '{id}': give both longitude and latitude, or neither")
    location: tuple[float, float] | None = None
    if lon is not None and lat is not None:
        if not (math.isfinite(lon) and -180 <= lon <= 180):
            raise ValueError(f"camera '{id}': longitude {lon} should be between -180 and 180")
        if not (math.isfinite(lat) and -90 <= lat <= 90):
            raise ValueError(f"camera '{id}': latitude {lat} should be between -90 and 90")
        location = (float(lon), float(lat))
    kind = snapshot_kind or ("http" if snapshot_url else NO_SNAPSHOT)
    schemes = {"http": ("http", "https"), "onvif": ("http", "https"), "rtsp": ("rtsp", "rtsps")}
    if kind not in schemes and kind != NO_SNAPSHOT:
        raise ValueError(f"camera '{id}': unknown snapshot kind '{kind}'")
    if kind != NO_SNAPSHOT:
        if not snapshot_url:
            raise ValueError(f"camera '{id}': a {kind} camera needs a snapshot URL")
        try:
            check_url(snapshot_url, schemes[kind])
        except ValueError as exc:
            raise ValueError(f"camera '{id}': {exc}") from None
    defaults = department.defaults
    return CameraConfig(
        department=department.id,
        id=id,
        uid=f"{department.id}:{id}",
        name=name.strip() or id,
        address=address,
        location=location,
        crs=defaults.crs,
        interval_s=defaults.interval.total_seconds(),
        timeout_s=defaults.timeout.total_seconds(),
        auth=AuthConfig.from_settings(defaults.auth),
        snapshot_kind=kind,
        snapshot_url=snapshot_url if kind != NO_SNAPSHOT else None,
        snapshot_path=None,
        tags=(),
        grid=None,
        line=0,
    )
