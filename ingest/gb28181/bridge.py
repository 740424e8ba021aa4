"""The upper platform: answers lower platforms' SIP requests and keeps the catalog in step.

* REGISTER (digest) brings a platform online and asks for its catalog; an
  ``Expires: 0`` REGISTER, a lapsed registration or three missed keepalives
  take it and its cameras offline with the reason.
* ``MESSAGE`` Keepalive keeps it online; Catalog ``Response`` messages are
  reassembled (:mod:`ingest.gb28181.device_catalog`) and, once complete,
  synced as the department's ``inventory:N`` source; Catalog notifications
  (``NOTIFY``, or a ``MESSAGE`` with a ``Notify`` body) are applied as they come.
* The whole catalog is asked for again every ``every``.

SIP answers never wait for the database: each platform has one writer task
that writes its *current* state (registration, cameras, statuses), so bursts
of notifications coalesce into one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta

from catalog.db import Catalog
from catalog.gb28181_platforms import platform_bindings
from catalog.grid import GridIndex
from catalog.models import utcnow
from config import Gb28181Settings, LoadedConfig
from ingest.gb28181 import platforms as states
from ingest.gb28181.device_catalog import CatalogAssembly
from ingest.gb28181.endpoint import Peer, SipEndpoint, SipTimeout
from ingest.gb28181.manscdp import ManscdpError, ManscdpMessage, catalog_query, parse_manscdp
from ingest.gb28181.platforms import PlatformState, parse_contact, platform_specs
from ingest.gb28181.recorder import PlatformSnapshot, record_platform
from ingest.gb28181.registrar import AuthRecord, Registrar
from ingest.gb28181.sip import Headers, SipRequest, SipResponse, make_response, new_tag

__all__ = ["BridgeSettings", "GbBridge"]

log = logging.getLogger(__name__)
ALLOW = "REGISTER, MESSAGE, NOTIFY, OPTIONS, ACK"


@dataclass(frozen=True)
class BridgeSettings:
    """Tunables; tests shorten them."""

    catalog_idle_s: float = 15.0  # an answer with no new piece for this long is given up
    retry_s: float = 60.0  # a failed catalog query is tried again after this
    max_auth_failures: int = 3
    lockout_s: float = 60.0


class GbBridge:
    """The SIP application of camgrid's upper platform (see the module docstring)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        catalog: Catalog,
        settings: Gb28181Settings,
        bridge: BridgeSettings | None = None,
    ) -> None:
        self._catalog = catalog
        self._sip = settings
        self._settings = bridge or BridgeSettings()
        self._grid = GridIndex(loaded.grid_cells)
        self.platforms = {d: PlatformState(s) for d, s in platform_specs(loaded).items()}
        self.registrar = Registrar(
            settings.realm,
            max_failures=self._settings.max_auth_failures,
            lockout_s=self._settings.lockout_s,
        )
        self.endpoint: SipEndpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._sn = secrets.randbelow(10_000)

    # -- lifecycle ----------------------------------------------------------

    async def start(self, endpoint: SipEndpoint) -> None:
        """Adopt registrations still valid in the catalog and start the watchdog."""
        self.endpoint = endpoint
        await self._adopt()
        self._spawn(self._watch())

    async def close(self) -> None:
        """Stop the watchdog and queries; let pending catalog writes finish."""
        writers = [p.writer for p in self.platforms.values() if p.writer is not None]
        for task in list(self._tasks):
            if task not in writers:
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*writers, return_exceptions=True), 10.0)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _adopt(self) -> None:
        now, wall = asyncio.get_running_loop().time(), utcnow()
        async with self._catalog.sessions() as session:
            bindings = await platform_bindings(session)
        for device_id, binding in bindings.items():
            platform, peer = self.platforms.get(device_id), parse_contact(binding.contact)
            if platform is None or peer is None or binding.until <= wall:
                continue
            platform.peer = peer
            platform.registered_until = now + (binding.until - wall).total_seconds()
            platform.last_keepalive = now  # a grace period: its keepalives may come here now
            platform.down = None if binding.state == "online" else binding.state
            platform.query_due = now
            log.info("adopted the registration of %s at %s", device_id, peer)

    def _spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- SIP ----------------------------------------------------------------

    async def handle_request(self, request: SipRequest, peer: Peer) -> SipResponse | None:
        """Answer one request (see :class:`ingest.gb28181.endpoint.SipHandler`)."""
        if request.method == "REGISTER":
            return self._register(request, peer)
        if request.method in ("MESSAGE", "NOTIFY"):
            return self._message(request, peer)
        if request.method == "OPTIONS":
            return make_response(request, 200, to_tag=new_tag(), headers=[("Allow", ALLOW)])
        return make_response(request, 405, to_tag=new_tag(), headers=[("Allow", ALLOW)])

    def _register(self, request: SipRequest, peer: Peer) -> SipResponse:
        loop_now = asyncio.get_running_loop().time()
        device_id = request.to.user or request.from_.user
        platform = self.platforms.get(device_id)
        password = platform.spec.settings.password.get_secret_value() if platform else None
        record = platform.auth if platform is not None else AuthRecord()
        decision = self.registrar.decide(
            request, password, record, now=loop_now, wall=datetime.now(), tag=new_tag()
        )
        if platform is None:
            return decision.response
        if decision.outcome == "registered":
            # a new Call-ID is a new registration (the device restarted): ask for its catalog
            fresh = not platform.registered(loop_now) or platform.peer != peer
            fresh = fresh or platform.register_call_id != request.call_id
            platform.register_call_id = request.call_id
            platform.peer, platform.registered_until = peer, loop_now + decision.expires
            platform.last_keepalive = loop_now
            if fresh or platform.down is not None:
                log.info("%s registered from %s for %ds", device_id, peer, decision.expires)
                platform.down = None
                platform.query_due = loop_now
            self._changed(platform)
        elif decision.outcome == "unregistered":
            log.info("%s unregistered", device_id)
            self._take_down(platform, states.UNREGISTERED, keep_registration=False)
        return decision.response

    def _message(self, request: SipRequest, peer: Peer) -> SipResponse:
        loop_now = asyncio.get_running_loop().time()
        platform = self.platforms.get(request.from_.user)
        if platform is None:
            return make_response(request, 403, "Forbidden (unknown device)", to_tag=new_tag())
        if not platform.registered(loop_now):
            return make_response(request, 403, "Forbidden (not registered)", to_tag=new_tag())
        if platform.peer is not None and peer.host != platform.peer.host:
            # MESSAGE carries no credentials: only the registered host may speak for the id
            return make_response(
                request, 403, "Forbidden (not the registered host)", to_tag=new_tag()
            )
        if not request.body.strip() and request.method == "NOTIFY":
            return make_response(request, 200, to_tag=new_tag())
        try:
            message = parse_manscdp(request.body)
        except ManscdpError as exc:
            log.info("bad MANSCDP body from %s: %s", platform.spec.device_id, exc)
            return make_response(request, 400, f"Bad Request ({exc})"[:120], to_tag=new_tag())
        for problem in message.problems:
            log.info("%s sent %s: %s", platform.spec.device_id, message.cmd_type, problem)
        kind, root = message.cmd_type.lower(), message.root.lower()
        if kind == "keepalive":
            self._keepalive(platform, peer, loop_now)
        elif kind == "catalog" and root == "response":
            self._catalog_piece(platform, message, loop_now)
        elif kind == "catalog" and root == "notify":
            change = platform.catalog.apply(message.items)
            platform.resync = platform.resync or change.resync
            if change.resync or change.status_ids:
                self._changed(platform)
        return make_response(request, 200, to_tag=new_tag())

    def _keepalive(self, platform: PlatformState, peer: Peer, now: float) -> None:
        platform.last_keepalive = now
        if platform.peer != peer:
            platform.peer = peer  # the NAT mapping moved
            self._changed(platform)
        if platform.down is not None:
            log.info("%s keeps alive again", platform.spec.device_id)
            platform.down = None
            platform.query_due = now if platform.catalog.items is None else platform.query_due
            self._changed(platform)

    # -- catalog ------------------------------------------------------------

    def _catalog_piece(self, platform: PlatformState, message: ManscdpMessage, now: float) -> None:
        if message.sn in platform.finished:
            return  # a late copy of a piece of an answer already complete
        assembly = platform.assemblies.get(message.sn)
        if assembly is None:
            assembly = platform.assemblies[message.sn] = CatalogAssembly(message.sn, now)
        assembly.add(message, now)
        platform.pieces.set()
        if not assembly.complete:
            return
        del platform.assemblies[message.sn]
        platform.finished.append(message.sn)
        if not assembly.items:
            platform.catalog_error = "the platform's catalog is empty"
            log.warning("%s answered an empty catalog", platform.spec.device_id)
        else:
            platform.catalog.replace(assembly.items.values())
            platform.catalog_error = None
            log.info("%s catalog complete: %s", platform.spec.device_id, assembly.describe())
        platform.resync = True
        self._changed(platform)

    async def _query(self, platform: PlatformState) -> None:
        """Ask for the whole catalog and wait until it is complete or stalls."""
        loop = asyncio.get_running_loop()
        platform.querying, platform.query_due = True, None
        self._sn += 1
        sn, started, error = self._sn, loop.time(), None
        platform.assemblies[sn] = CatalogAssembly(sn, started, last_piece_at=started)
        try:
            response = await self._send(platform, catalog_query(sn, platform.spec.device_id))
            if response.status >= 300:
                error = f"Catalog query refused: {response.status} {response.reason}"
            while error is None and sn not in platform.finished:
                assembly = platform.assemblies.get(sn)
                last = assembly.last_piece_at if assembly is not None else started
                if loop.time() - max(last, started) > self._settings.catalog_idle_s:
                    got = assembly.describe() if assembly is not None else "no items"
                    error = f"catalog incomplete: {got}, then silence"
                    break
                platform.pieces.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(platform.pieces.wait(), 0.5)
        except SipTimeout:
            error = "no answer to the Catalog query"
        except OSError as exc:
            error = f"cannot reach the platform: {exc}"
        finally:
            platform.querying = False
            platform.assemblies.pop(sn, None)
        if error is not None:
            log.warning("%s: %s", platform.spec.device_id, error)
            platform.catalog_error, platform.resync = error, True
            self._changed(platform)
        wait = platform.spec.every_s if error is None else self._settings.retry_s
        if platform.down is None:
            platform.query_due = loop.time() + min(wait, platform.spec.every_s)

    async def _send(self, platform: PlatformState, body: bytes) -> SipResponse:
        endpoint, peer, spec = self.endpoint, platform.peer, platform.spec
        if endpoint is None or peer is None:
            raise OSError("the platform has no address")
        host = f"[{peer.host}]" if ":" in peer.host else peer.host
        headers = Headers(
            [
                ("Via", endpoint.via(peer)),
                ("From", f"<sip:{self._sip.id}@{self._sip.realm}>;tag={new_tag()}"),
                ("To", f"<sip:{spec.device_id}@{spec.device_id[:10]}>"),
                ("Call-ID", f"{secrets.token_hex(10)}@{endpoint.local_host(peer)}"),
                ("CSeq", f"{platform.next_cseq()} MESSAGE"),
                ("Max-Forwards", "70"),
                ("User-Agent", "camgrid"),
                ("Content-Type", "Application/MANSCDP+xml"),
            ]
        )
        request = SipRequest(headers, body, "MESSAGE", f"sip:{spec.device_id}@{host}:{peer.port}")
        return await endpoint.request(request, peer)

    # -- state and the watchdog ---------------------------------------------

    def _take_down(self, platform: PlatformState, reason: str, *, keep_registration: bool) -> None:
        platform.down, platform.query_due = reason, None
        if not keep_registration:
            platform.registered_until = 0.0
        self._changed(platform)

    async def _watch(self) -> None:
        keepalives = [p.spec.keepalive_s for p in self.platforms.values()] or [1.0]
        tick = max(0.05, min(1.0, min(keepalives) / 5))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for platform in self.platforms.values():
                self._check(platform, now)

    def _check(self, platform: PlatformState, now: float) -> None:
        if platform.peer is not None and 0 < platform.registered_until <= now:
            log.info("%s: registration expired", platform.spec.device_id)
            self._take_down(platform, states.EXPIRED, keep_registration=False)
            platform.registered_until = -1.0  # reported once
        if platform.down is None:
            silence = now - platform.last_keepalive
            if silence > states.MISSED_KEEPALIVES * platform.spec.keepalive_s:
                log.warning("%s: %s", platform.spec.device_id, states.KEEPALIVES_MISSED)
                self._take_down(platform, states.KEEPALIVES_MISSED, keep_registration=True)
        due = platform.query_due
        if platform.down is None and not platform.querying and due is not None and due <= now:
            self._spawn(self._query(platform))
        for sn, assembly in list(platform.assemblies.items()):
            if now - assembly.last_piece_at > max(self._settings.catalog_idle_s, 1.0) * 4:
                del platform.assemblies[sn]  # an unasked-for answer that never completed

    def _changed(self, platform: PlatformState) -> None:
        platform.dirty = True
        if platform.writer is None or platform.writer.done():
            platform.writer = self._spawn(self._write_loop(platform))

    async def _write_loop(self, platform: PlatformState) -> None:
        while platform.dirty:
            platform.dirty = False
            resync, platform.resync = platform.resync, False
            try:
                await self._write(platform, resync)
            except Exception:
                log.exception("writing %s to the catalog failed; retrying", platform.spec.device_id)
                platform.dirty, platform.resync = True, platform.resync or resync
                await asyncio.sleep(1.0)

    async def _write(self, platform: PlatformState, resync: bool) -> None:
        loop_now, now = asyncio.get_running_loop().time(), utcnow()
        registered = platform.registered(loop_now) and platform.peer is not None
        until = now + timedelta(seconds=platform.registered_until - loop_now)
        items = platform.catalog.items
        snapshot = PlatformSnapshot(
            spec=platform.spec,
            contact=str(platform.peer) if registered else None,
            registered_until=until if registered else None,
            down=platform.down,
            items=dict(items) if items is not None else None,
            resync=resync,
            catalog_error=platform.catalog_error,
        )
        await record_platform(self._catalog, self._grid, snapshot, now)
