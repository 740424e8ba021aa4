"""The SIP endpoint's transaction layer over real sockets, with a stand-in application."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from ingest.gb28181.endpoint import Peer, SipEndpoint, SipTimeout, Timers
from ingest.gb28181.headers import Headers
from ingest.gb28181.sip import SipRequest, SipResponse, make_response, parse_message


class Echo:
    """Answers every request 200 after ``delay`` seconds; counts what reached it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.seen: list[str] = []

    async def handle_request(self, request: SipRequest, peer: Peer) -> SipResponse | None:
        self.seen.append(f"{request.method} {request.cseq.number}")
        await asyncio.sleep(self.delay)
        return make_response(request, 200, to_tag="echo", body=request.body)


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[SipEndpoint, Echo]]:
    app = Echo(delay=0.3)
    sip = SipEndpoint(app, "127.0.0.1", 0, Timers(t1=0.05, t2=0.2))
    await sip.start()
    yield sip, app
    await sip.close()


def request_bytes(port: int, cseq: int = 1, transport: str = "UDP", body: bytes = b"") -> bytes:
    return (
        "MESSAGE sip:43020300002000000001@4302030000 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{port};branch=z9hG4bKe{cseq}\r\n"
        "From: <sip:43020300002000000002@4302030000>;tag=1\r\n"
        "To: <sip:43020300002000000001@4302030000>\r\n"
        f"Call-ID: endpoint-test\r\nCSeq: {cseq} MESSAGE\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def test_a_retransmission_while_the_answer_is_pending_reaches_the_app_once(
    endpoint: tuple[SipEndpoint, Echo],
) -> None:
    sip, app = endpoint
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(("127.0.0.1", sip.port))
        data = request_bytes(sock.getsockname()[1])
        for _ in range(3):  # the app takes 0.3 s: these are retransmissions in flight
            await loop.sock_sendall(sock, data)
            await asyncio.sleep(0.05)
        first = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2.0)
        await loop.sock_sendall(sock, data)  # after the answer: the same bytes again
        again = await asyncio.wait_for(loop.sock_recv(sock, 65536), 2.0)
    assert first == again
    assert first.startswith(b"SIP/2.0 200 OK\r\n")
    assert app.seen == ["MESSAGE 1"]


async def test_tcp_messages_split_and_joined_arbitrarily_are_framed(
    endpoint: tuple[SipEndpoint, Echo],
) -> None:
    sip, app = endpoint
    app.delay = 0.0
    reader, writer = await asyncio.open_connection("127.0.0.1", sip.port)
    port = writer.get_extra_info("sockname")[1]
    body = "<Notify>芦淞</Notify>".encode("gb18030")
    stream = b"\r\n\r\n" + b"".join(request_bytes(port, n, "TCP", body) for n in range(1, 4))
    for start in range(0, len(stream), 13):
        writer.write(stream[start : start + 13])
        await writer.drain()
    received = b""
    while received.count(b"SIP/2.0 200 OK") < 3:
        received += await asyncio.wait_for(reader.read(65536), 2.0)
    assert app.seen == ["MESSAGE 1", "MESSAGE 2", "MESSAGE 3"]
    assert received.count(body) == 3
    writer.write(b"GARBAGE WITHOUT HEADERS END" + b"x" * 100 + b"\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2.0) == b""  # no framing, no stream: closed
    writer.close()


async def test_our_requests_are_retransmitted_on_t1_until_answered_or_given_up(
    endpoint: tuple[SipEndpoint, Echo],
) -> None:
    sip, _ = endpoint
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.bind(("127.0.0.1", 0))
        peer = Peer("UDP", "127.0.0.1", sock.getsockname()[1])

        def query(cseq: int) -> SipRequest:
            headers = Headers(
                [
                    ("Via", sip.via(peer)),
                    ("From", "<sip:43020300002000000001@4302030000>;tag=up"),
                    ("To", "<sip:43020300002000000002@4302030000>"),
                    ("Call-ID", f"query-{cseq}"),
                    ("CSeq", f"{cseq} MESSAGE"),
                ]
            )
            return SipRequest(headers, b"", "MESSAGE", f"sip:43020300002000000002@{peer.host}")

        answered = asyncio.create_task(sip.request(query(1), peer))
        copies = []
        for _ in range(3):  # ignore two copies, answer the third
            copies.append(await asyncio.wait_for(loop.sock_recv(sock, 65536), 2.0))
        assert copies[0] == copies[1] == copies[2]
        request = parse_message(copies[2])
        assert isinstance(request, SipRequest)
        await loop.sock_sendto(
            sock, make_response(request, 200).to_bytes(), ("127.0.0.1", sip.port)
        )
        response = await asyncio.wait_for(answered, 2.0)
        assert response.status == 200

        started = loop.time()
        with pytest.raises(SipTimeout, match="no answer to MESSAGE"):
            await sip.request(query(2), peer)
        assert 64 * 0.05 - 0.1 <= loop.time() - started <= 64 * 0.05 + 1.0
