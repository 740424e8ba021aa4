"""Snapshots of ``onvif`` cameras: ask the device for its snapshot URI, then fetch it over HTTP.

A camera's ``url`` is its ONVIF device service (``http://cam/onvif/device_service``).
The first poll asks, in SOAP (:mod:`ingest.connectors.onvif_soap`), where the Media
service is (``GetCapabilities``), for the media profiles (``GetProfiles``) and for the
snapshot URI of the first profile (``GetSnapshotUri``); the picture itself is then
fetched by the http connector with the camera's credentials (Basic or Digest, as
configured). Three SOAP round trips per picture would triple the cost of a poll,
so the URI is kept per camera for :data:`URI_TTL_S` and dropped as soon as a fetch
from it fails, so that a device that rebooted with new URIs is asked again on the
next poll. The whole poll, SOAP included, stays within the target's timeout.

The snapshot URI (and the Media service address) come from the device, not from
the department's file, so they are checked against the target's ``allow_networks``
before anything is sent there: a device that points camgrid elsewhere fails the
poll with :class:`AddressRefused` (``snapshot URI host … not in allow_networks``),
and the refused URI is neither fetched nor kept.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

from ingest.connectors.base import (
    CameraTarget,
    CameraTimeout,
    ConnectorContext,
    SnapshotError,
)
from ingest.connectors.http import HttpSnapshotConnector
from ingest.connectors.onvif_soap import OnvifClient, OnvifCredentials

#: how long a snapshot URI is reused before the device is asked again
URI_TTL_S = 3600.0
#: the least time left to the HTTP fetch after the SOAP exchange
_MIN_FETCH_S = 0.5


def target_credentials(target: CameraTarget) -> OnvifCredentials | None:
    """The WS-Security account of a target: its username and password, if it has them."""
    if target.username is None:
        return None
    return OnvifCredentials(target.username, target.password or "")


class OnvifSnapshotConnector:
    """Takes snapshots of ``onvif`` cameras: GetSnapshotUri (cached), then HTTP."""

    def __init__(
        self,
        ctx: ConnectorContext,
        *,
        uri_ttl_s: float = URI_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = ctx.session
        self._http = HttpSnapshotConnector(ctx)
        self._ttl = uri_ttl_s
        self._clock = clock
        # (uid, device URL, username) -> (snapshot URI, when it expires)
        self._uris: dict[tuple[str, str, str | None], tuple[str, float]] = {}

    def _key(self, target: CameraTarget) -> tuple[str, str, str | None]:
        return (target.uid, target.url or "", target.username)

    def forget(self, target: CameraTarget) -> None:
        """Drop the cached snapshot URI of ``target``."""
        self._uris.pop(self._key(target), None)

    async def snapshot_uri(self, target: CameraTarget) -> str:
        """The target's snapshot URI: cached, or asked of the device now."""
        if not target.url:
            raise SnapshotError("no URL")
        key = self._key(target)
        now = self._clock()
        kept = self._uris.get(key)
        if kept is not None and kept[1] > now:
            return kept[0]
        client = OnvifClient(
            self._session,
            target.url,
            target_credentials(target),
            target.timeout_s,
            allow_networks=target.allow_networks,
        )
        try:
            async with asyncio.timeout(target.timeout_s):  # the three calls together
                uri = await client.resolve_snapshot_uri()
        except TimeoutError:
            raise CameraTimeout() from None
        self._uris[key] = (uri, now + self._ttl)
        return uri

    async def fetch(self, target: CameraTarget) -> bytes:
        """The picture behind the device's snapshot URI; `AddressRefused` outside the policy."""
        started = time.monotonic()
        uri = await self.snapshot_uri(target)
        left = target.timeout_s - (time.monotonic() - started)
        if left < _MIN_FETCH_S:
            raise CameraTimeout()
        try:
            return await self._http.fetch(replace(target, kind="http", url=uri, timeout_s=left))
        except SnapshotError:
            self.forget(target)
            raise
