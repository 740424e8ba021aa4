"""The SIP endpoint: UDP and TCP on one port, and the transaction layer over them.

Server side: a request is handed to the :class:`SipHandler` once; its final
response is kept for ``64*T1`` under (Call-ID, CSeq, method, top Via
branch), so a UDP retransmission is answered with the very same bytes and
never reaches the handler again (a retransmission that arrives while the
handler still works is dropped: the answer will follow). Responses go back
where the request came from (the UDP source address, or the same TCP
connection), which is what NATed devices need.

Client side: :meth:`SipEndpoint.request` sends a request and waits for its
final response; over UDP it is retransmitted at T1, doubling up to T2,
until an answer comes or ``64*T1`` passes (RFC 3261 §17.1.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ingest.gb28181.sip import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    new_branch,
    parse_message,
)

__all__ = ["Peer", "SipEndpoint", "SipHandler", "SipTimeout", "Timers"]

log = logging.getLogger(__name__)
Transport = Literal["UDP", "TCP"]
UDP_RECEIVE_BUFFER = 4 << 20  # bytes asked of the kernel (capped by net.core.rmem_max)
Send = Callable[[bytes], None]


@dataclass(frozen=True)
class Peer:
    """Where a message came from, or goes to."""

    transport: Transport
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.lower()} {host}:{self.port}"


@dataclass(frozen=True)
class Timers:
    """RFC 3261 timers, in seconds; tests shorten them."""

    t1: float = 0.5
    t2: float = 4.0

    @property
    def transaction_s(self) -> float:
        """Timer F (a request gives up) and how long a final response is kept: 64*T1."""
        return 64 * self.t1


class SipTimeout(TimeoutError):
    """No final response to a request within ``64*T1``."""


class SipHandler(Protocol):
    """The application: answers requests (None for ACK and other answer-less requests)."""

    async def handle_request(self, request: SipRequest, peer: Peer) -> SipResponse | None:
        """The final response to ``request`` from ``peer``; called once per transaction."""
        ...


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, endpoint: SipEndpoint) -> None:
        self._endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._endpoint.received(data, Peer("UDP", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class SipEndpoint:
    """UDP and TCP listeners on ``host:port`` (port 0 picks one) feeding a :class:`SipHandler`."""

    def __init__(
        self, handler: SipHandler, host: str, port: int, timers: Timers | None = None
    ) -> None:
        self._handler = handler
        self._host, self._port = host, port
        self.timers = timers or Timers()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._streams: dict[tuple[str, int], asyncio.StreamWriter] = {}
        self._answered: OrderedDict[tuple[str, int, str, str], tuple[float, bytes | None]] = (
            OrderedDict()
        )
        self._waiting: dict[str, asyncio.Future[SipResponse]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._local_hosts: dict[str, str] = {}

    @property
    def port(self) -> int:
        """The bound port (UDP and TCP share it)."""
        return self._port

    async def start(self) -> None:
        """Bind UDP, then TCP on the same port; raises OSError if either is taken."""
        loop = asyncio.get_running_loop()
        for attempt in range(5):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self._host, self._port)
            )
            bound = transport.get_extra_info("sockname")[1]
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError, AttributeError):  # a Catalog answer comes in bursts
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
            try:
                self._tcp_server = await asyncio.start_server(
                    self._serve_stream, self._host, bound, reuse_address=True
                )
            except OSError:
                transport.close()
                if self._port != 0 or attempt == 4:
                    raise
                continue  # a random UDP port whose TCP twin is taken: pick another
            self._udp, self._port = transport, bound
            return

    async def close(self) -> None:
        """Stop listening, drop connections, fail waiting requests."""
        if self._udp is not None:
            self._udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
        for writer in list(self._streams.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.cancel()

    def local_host(self, peer: Peer) -> str:
        """Our address as ``peer`` sees it (the listen address, or the route's source address)."""
        if self._host not in ("0.0.0.0", "::", ""):
            return self._host
        if peer.host not in self._local_hosts:
            family = socket.AF_INET6 if ":" in peer.host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((peer.host, peer.port or 5060))  # no packet is sent
                self._local_hosts[peer.host] = probe.getsockname()[0]
        return self._local_hosts[peer.host]

    def via(self, peer: Peer) -> str:
        """A Via value for a new request to ``peer``, with a fresh branch."""
        host = self.local_host(peer)
        host = f"[{host}]" if ":" in host else host
        return f"SIP/2.0/{peer.transport} {host}:{self._port};rport;branch={new_branch()}"

    # -- receiving ---------------------------------------------------------

    def received(self, data: bytes, peer: Peer, send: Send | None = None) -> None:
        """One datagram or one framed stream message from ``peer``."""
        reply = send or self._udp_sender(peer)
        if not data.strip(b"\r\n"):
            return  # a keep-alive ping
        try:
            message = parse_message(data, stream=peer.transport == "TCP")
        except SipParseError as exc:
            self._bad(exc, peer, reply)
            return
        self.dispatch(message, peer, reply)

    def dispatch(self, message: SipRequest | SipResponse, peer: Peer, reply: Send) -> None:
        """Route a parsed message: responses to their waiting request, requests to the handler."""
        if isinstance(message, SipResponse):
            self._response(message)
            return
        if message.method == "ACK":
            return
        key = message.transaction_key
        self._forget_old()
        known = self._answered.get(key)
        if known is not None:
            if known[1] is not None:
                reply(known[1])  # a retransmission: the same answer again
            return
        self._answered[key] = (asyncio.get_running_loop().time(), None)
        self._spawn(self._answer(message, peer, reply, key))

    def _bad(self, exc: SipParseError, peer: Peer, reply: Send) -> None:
        log.info("bad SIP message from %s: %s", peer, exc)
        if exc.partial is not None:
            reason = f"Bad Request ({exc})"[:120].replace("\r", " ").replace("\n", " ")
            reply(make_response(exc.partial, 400, reason).to_bytes())

    async def _answer(
        self, request: SipRequest, peer: Peer, reply: Send, key: tuple[str, int, str, str]
    ) -> None:
        try:
            response = await self._handler.handle_request(request, peer)
        except Exception:
            log.exception("handling %s from %s failed", request.method, peer)
            response = make_response(request, 500)
        if response is None:
            self._answered.pop(key, None)
            return
        data = response.to_bytes()
        self._answered[key] = (asyncio.get_running_loop().time(), data)
        reply(data)

    def _forget_old(self) -> None:
        limit = asyncio.get_running_loop().time() - self.timers.transaction_s
        while self._answered:
            key, (at, data) = next(iter(self._answered.items()))
            if at > limit:
                break
            self._answered.popitem(last=False)
            if data is None:  # still being handled after 64*T1: keep it
                self._answered[key] = (at + self.timers.transaction_s, None)
                break

    def _response(self, response: SipResponse) -> None:
        try:
            branch = response.vias[0].branch
        except (SipParseError, IndexError):
            return
        waiter = self._waiting.get(branch)
        if waiter is not None and not waiter.done() and response.status >= 200:
            waiter.set_result(response)

    def _udp_sender(self, peer: Peer) -> Send:
        def send(data: bytes) -> None:
            if self._udp is not None and not self._udp.is_closing():
                self._udp.sendto(data, (peer.host, peer.port))

        return send

    async def _serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        address = writer.get_extra_info("peername")
        peer = Peer("TCP", address[0], address[1])
        self._streams[(peer.host, peer.port)] = writer
        framer = StreamFramer()

        def send(data: bytes) -> None:
            if not writer.is_closing():
                writer.write(data)

        try:
            while chunk := await reader.read(65536):
                for message in framer.feed(chunk):
                    if isinstance(message, SipParseError):
                        self._bad(message, peer, send)
                    else:
                        self.dispatch(message, peer, send)
        except SipParseError as exc:
            log.info("closing SIP stream from %s: %s", peer, exc)
        except ConnectionError:
            pass
        finally:
            self._streams.pop((peer.host, peer.port), None)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- sending -----------------------------------------------------------

    async def _stream_to(self, peer: Peer) -> asyncio.StreamWriter:
        known = self._streams.get((peer.host, peer.port))
        if known is not None and not known.is_closing():
            return known
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(peer.host, peer.port), self.timers.transaction_s
        )
        self._spawn(self._serve_stream(reader, writer))
        return writer

    async def request(self, request: SipRequest, peer: Peer) -> SipResponse:
        """Send ``request`` (its top Via from :meth:`via`) and wait for the final response."""
        branch = request.vias[0].branch
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[SipResponse] = loop.create_future()
        self._waiting[branch] = waiter
        data = request.to_bytes()
        deadline = loop.time() + self.timers.transaction_s
        try:
            if peer.transport == "TCP":
                writer = await self._stream_to(peer)
                writer.write(data)
                return await asyncio.wait_for(waiter, self.timers.transaction_s)
            send, interval = self._udp_sender(peer), self.timers.t1
            while True:
                send(data)
                wait = min(interval, deadline - loop.time())
                if wait <= 0:
                    raise SipTimeout(f"no answer to {request.method} from {peer}")
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(waiter), wait)
                interval = min(interval * 2, self.timers.t2)
        except TimeoutError as exc:
            raise SipTimeout(f"no answer to {request.method} from {peer}") from exc
        finally:
            self._waiting.pop(branch, None)
            waiter.cancel()
