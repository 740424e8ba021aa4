"""camgrid's configuration: department files, grid files and service settings.

``load_config(Path("config/examples"))`` reads a config folder, checks every
file and returns a :class:`LoadedConfig`, or raises :class:`ConfigInvalid`
whose ``issues`` print as ``FILE:LINE PATH: message``. This package imports
nothing else of camgrid.
"""

from config.department import (
    INVENTORY_KINDS,
    SNAPSHOT_KINDS,
    AuthSettings,
    CameraSettings,
    CsvInventorySettings,
    DefaultsSettings,
    DepartmentFileSettings,
    FileSnapshotSettings,
    Gb28181InventorySettings,
    HttpJsonInventorySettings,
    HttpSnapshotSettings,
    InventoryMapSettings,
    InventorySettings,
    OnvifInventorySettings,
    OnvifSnapshotSettings,
    PagesSettings,
    RtspSnapshotSettings,
    SnapshotSettings,
    StrictModel,
    XlsxInventorySettings,
)
from config.durations import format_duration, parse_duration
from config.grid import GridCellConfig
from config.issues import ConfigInvalid, ConfigIssue
from config.loader import load_config
from config.resolved import (
    NO_SNAPSHOT,
    AuthConfig,
    CameraConfig,
    DepartmentConfig,
    LoadedConfig,
    camera_from_inventory_row,
)
from config.settings import Gb28181Settings, ServiceSettings

__all__ = [
    "INVENTORY_KINDS",
    "NO_SNAPSHOT",
    "SNAPSHOT_KINDS",
    "AuthConfig",
    "AuthSettings",
    "CameraConfig",
    "CameraSettings",
    "ConfigInvalid",
    "ConfigIssue",
    "CsvInventorySettings",
    "DefaultsSettings",
    "DepartmentConfig",
    "DepartmentFileSettings",
    "FileSnapshotSettings",
    "Gb28181InventorySettings",
    "Gb28181Settings",
    "GridCellConfig",
    "HttpJsonInventorySettings",
    "HttpSnapshotSettings",
    "InventoryMapSettings",
    "InventorySettings",
    "LoadedConfig",
    "OnvifInventorySettings",
    "OnvifSnapshotSettings",
    "PagesSettings",
    "RtspSnapshotSettings",
    "ServiceSettings",
    "SnapshotSettings",
    "StrictModel",
    "XlsxInventorySettings",
    "camera_from_inventory_row",
    "format_duration",
    "load_config",
    "parse_duration",
]
