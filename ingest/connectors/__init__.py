"""Snapshot connectors: one per camera ``kind``, behind :class:`SnapshotConnector`.

:data:`SNAPSHOT_CONNECTORS` is the explicit registry; its keys are the ``kind``
values of the config's snapshot union, and each value is a connector class built
from a :class:`ConnectorContext`.
"""

from collections.abc import Callable

from ingest.connectors.base import (
    DEFAULT_MAX_BYTES,
    AddressRefused,
    AuthRejected,
    AuthScheme,
    BadResponse,
    BodyTooLarge,
    CameraTarget,
    CameraTimeout,
    CameraUnreachable,
    ConnectorContext,
    NotAnImageResponse,
    SnapshotConnector,
    SnapshotError,
)
from ingest.connectors.file import FileSnapshotConnector
from ingest.connectors.http import HttpSnapshotConnector
from ingest.connectors.onvif import OnvifSnapshotConnector
from ingest.connectors.rtsp import RtspSnapshotConnector

ConnectorFactory = Callable[[ConnectorContext], SnapshotConnector]

#: connector classes keyed by snapshot ``kind``: exactly ``config.SNAPSHOT_KINDS``
SNAPSHOT_CONNECTORS: dict[str, ConnectorFactory] = {
    "http": HttpSnapshotConnector,
    "rtsp": RtspSnapshotConnector,
    "onvif": OnvifSnapshotConnector,
    "file": FileSnapshotConnector,
}


def make_connectors(ctx: ConnectorContext) -> dict[str, SnapshotConnector]:
    """One connector of every registered kind, sharing ``ctx``."""
    return {kind: factory(ctx) for kind, factory in SNAPSHOT_CONNECTORS.items()}


__all__ = [
    "DEFAULT_MAX_BYTES",
    "SNAPSHOT_CONNECTORS",
    "AddressRefused",
    "AuthRejected",
    "AuthScheme",
    "BadResponse",
    "BodyTooLarge",
    "CameraTarget",
    "CameraTimeout",
    "CameraUnreachable",
    "ConnectorContext",
    "ConnectorFactory",
    "FileSnapshotConnector",
    "HttpSnapshotConnector",
    "NotAnImageResponse",
    "OnvifSnapshotConnector",
    "RtspSnapshotConnector",
    "SnapshotConnector",
    "SnapshotError",
    "make_connectors",
]
