"""Running the SIP endpoint in exactly one worker: the holder of the ``gb28181`` service lease.

Every worker of a deployment runs :meth:`Gb28181Service.run` when
``[gb28181]`` is configured; each tries to take the lease every third of a
lease period. The holder binds the listen address and runs the bridge, and
renews the lease; a worker that loses it (or cannot reach the catalog to
renew it) stops serving before the lease runs out, so a dead worker's
endpoint moves to another one within about one lease period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from catalog.db import Catalog
from catalog.gb28181_platforms import ENDPOINT_LEASE, acquire_service_lease, release_service_lease
from catalog.models import utcnow
from config import Gb28181Settings, LoadedConfig
from ingest.gb28181.bridge import BridgeSettings, GbBridge
from ingest.gb28181.endpoint import SipEndpoint, Timers

__all__ = ["Gb28181Service", "listen_address", "running_gb28181"]

log = logging.getLogger(__name__)


def listen_address(settings: Gb28181Settings) -> tuple[str, int]:
    """``0.0.0.0:5060`` -> ``("0.0.0.0", 5060)``; ``[::]:5060`` -> ``("::", 5060)``."""
    host, _, port = settings.listen.rpartition(":")
    return host.strip("[]"), int(port)


class Gb28181Service:
    """Takes the ``gb28181`` lease and serves SIP while it holds it."""

    def __init__(
        self,
        loaded: LoadedConfig,
        catalog: Catalog,
        *,
        owner: str,
        lease_s: float | None = None,
        timers: Timers | None = None,
        bridge: BridgeSettings | None = None,
    ) -> None:
        if loaded.settings.gb28181 is None:
            raise ValueError("no [gb28181] section in the settings")
        self._loaded, self._catalog, self._owner = loaded, catalog, owner
        self._settings: Gb28181Settings = loaded.settings.gb28181
        self._lease_s = lease_s or float(loaded.settings.lease_seconds)
        self._timers, self._bridge_settings = timers, bridge
        self.endpoint: SipEndpoint | None = None
        self.bridge: GbBridge | None = None
        self.serving = asyncio.Event()

    async def _hold(self) -> bool:
        try:
            async with self._catalog.sessions() as session, session.begin():
                return await acquire_service_lease(
                    session, ENDPOINT_LEASE, self._owner, utcnow(), self._lease_s
                )
        except Exception:
            log.exception("cannot renew the gb28181 lease")
            return False

    async def _start(self) -> None:
        bridge = GbBridge(self._loaded, self._catalog, self._settings, self._bridge_settings)
        host, port = listen_address(self._settings)
        endpoint = SipEndpoint(bridge, host, port, self._timers)
        try:
            await endpoint.start()
        except OSError as exc:
            log.error("cannot listen for SIP on %s: %s", self._settings.listen, exc)
            await endpoint.close()
            raise
        await bridge.start(endpoint)
        self.endpoint, self.bridge = endpoint, bridge
        self.serving.set()
        log.info(
            "GB/T 28181 endpoint %s listening on %s (udp and tcp), %d platform(s) known",
            self._settings.id,
            f"{host}:{endpoint.port}",
            len(bridge.platforms),
        )

    async def _stop(self) -> None:
        self.serving.clear()
        if self.bridge is not None:
            await self.bridge.close()
        if self.endpoint is not None:
            await self.endpoint.close()
        self.endpoint = self.bridge = None

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the lease and serve until ``stop`` is set; then let the lease go."""
        try:
            while not stop.is_set():
                held = await self._hold()
                if held and self.endpoint is None:
                    try:
                        await self._start()
                    except OSError:
                        await self._release()
                elif not held and self.endpoint is not None:
                    log.warning("lost the gb28181 lease; stopping the SIP endpoint")
                    await self._stop()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._lease_s / 3)
        finally:
            was_serving = self.endpoint is not None
            await self._stop()
            if was_serving:
                await self._release()

    async def _release(self) -> None:
        try:
            async with self._catalog.sessions() as session, session.begin():
                await release_service_lease(session, ENDPOINT_LEASE, self._owner, utcnow())
        except Exception:
            log.exception("cannot release the gb28181 lease")


@asynccontextmanager
async def running_gb28181(
    loaded: LoadedConfig, catalog: Catalog, owner: str
) -> AsyncIterator[Gb28181Service | None]:
    """Compete for the SIP endpoint in the background while the block runs (no-op unconfigured)."""
    if loaded.settings.gb28181 is None:
        yield None
        return
    service = Gb28181Service(loaded, catalog, owner=owner)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop), name="gb28181")
    try:
        yield service
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 15.0)
        except TimeoutError:
            log.error("the SIP endpoint did not stop in time")
