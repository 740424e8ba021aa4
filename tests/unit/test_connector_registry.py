"""The snapshot connector registry matches the config's snapshot kinds exactly."""

from __future__ import annotations

import aiohttp

from config import SNAPSHOT_KINDS
from ingest.connectors import (
    SNAPSHOT_CONNECTORS,
    ConnectorContext,
    FileSnapshotConnector,
    HttpSnapshotConnector,
    OnvifSnapshotConnector,
    RtspSnapshotConnector,
    make_connectors,
)


def test_registry_keys_are_the_config_snapshot_kinds() -> None:
    assert sorted(SNAPSHOT_CONNECTORS) == sorted(SNAPSHOT_KINDS)
    assert len(SNAPSHOT_KINDS) == len(set(SNAPSHOT_KINDS))


async def test_make_connectors_builds_one_of_each_kind() -> None:
    async with aiohttp.ClientSession() as session:
        made = make_connectors(ConnectorContext(session=session))
        assert set(made) == set(SNAPSHOT_KINDS)
        assert isinstance(made["http"], HttpSnapshotConnector)
        assert isinstance(made["rtsp"], RtspSnapshotConnector)
        assert isinstance(made["onvif"], OnvifSnapshotConnector)
        assert isinstance(made["file"], FileSnapshotConnector)
        rtsp = made["rtsp"]
        assert isinstance(rtsp, RtspSnapshotConnector)
        rtsp.close()
