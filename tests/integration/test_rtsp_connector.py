"""The rtsp connector against GStreamer's RTSP server, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from ingest.connectors import (
    AuthRejected,
    BadResponse,
    CameraTarget,
    CameraTimeout,
    CameraUnreachable,
    ConnectorContext,
    SnapshotError,
)
from ingest.connectors.rtsp import RtspSnapshotConnector, url_with_credentials
from ingest.image import inspect_jpeg
from tests.fixtures.rtsp import RtspServer

#: a frame of the test stream comes in ~0.6 s (the server's pipeline start dominates)
FRAME_WITHIN_S = 3.0


@pytest.fixture
async def connector() -> AsyncIterator[RtspSnapshotConnector]:
    async with aiohttp.ClientSession() as session:
        rtsp = RtspSnapshotConnector(ConnectorContext(session=session), threads=4)
        try:
            yield rtsp
        finally:
            rtsp.close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"rtsp://127.0.0.1:{sock.getsockname()[1]}/cam1"
    finally:
        sock.close()


def target(
    url: str, username: str | None = None, password: str | None = None, timeout_s: float = 5.0
) -> CameraTarget:
    return CameraTarget(
        uid="police:rtsp-1",
        kind="rtsp",
        url=url,
        auth_scheme="none" if username is None else "digest",
        username=username,
        password=password,
        timeout_s=timeout_s,
    )


async def timed_fetch(connector: RtspSnapshotConnector, t: CameraTarget) -> tuple[bytes, float]:
    started = time.monotonic()
    data = await connector.fetch(t)
    return data, time.monotonic() - started


async def test_one_frame_as_a_jpeg_of_the_stream_size(
    connector: RtspSnapshotConnector, rtsp_server: RtspServer
) -> None:
    data, elapsed = await timed_fetch(connector, target(rtsp_server.public_url))
    check = inspect_jpeg(data)
    assert (check.width, check.height) == (rtsp_server.width, rtsp_server.height)
    assert not check.flags  # colour bars: not black, flat or blurred
    assert elapsed < FRAME_WITHIN_S


@pytest.mark.parametrize("mount", ["basic", "digest"])
async def test_credentials_go_into_the_url_percent_encoded(
    connector: RtspSnapshotConnector, rtsp_server: RtspServer, mount: str
) -> None:
    url = rtsp_server.basic_url if mount == "basic" else rtsp_server.digest_url
    assert any(c in rtsp_server.password for c in " @:/%")  # the password needs encoding
    data, elapsed = await timed_fetch(
        connector, target(url, rtsp_server.username, rtsp_server.password)
    )
    assert inspect_jpeg(data).width == rtsp_server.width
    assert elapsed < FRAME_WITHIN_S


async def test_credentials_written_in_the_url_are_used(
    connector: RtspSnapshotConnector, rtsp_server: RtspServer
) -> None:
    url = url_with_credentials(rtsp_server.basic_url, rtsp_server.username, rtsp_server.password)
    data = await connector.fetch(target(url))
    assert inspect_jpeg(data).height == rtsp_server.height


@pytest.mark.parametrize("mount", ["basic", "digest"])
async def test_wrong_password_is_auth_rejected(
    connector: RtspSnapshotConnector, rtsp_server: RtspServer, mount: str
) -> None:
    url = rtsp_server.basic_url if mount == "basic" else rtsp_server.digest_url
    wrong = "not-the-" + rtsp_server.password
    started = time.monotonic()
    with pytest.raises(AuthRejected) as caught:
        await connector.fetch(target(url, rtsp_server.username, wrong))
    assert time.monotonic() - started < 1.0
    error = caught.value
    assert error.reason == "auth rejected"
    assert error.__cause__ is None
    assert error.__context__ is None
    for text in (str(error), repr(error), error.reason):
        assert wrong not in text
        assert rtsp_server.password not in text
        assert "@" not in text


async def test_no_credentials_for_a_secured_stream(
    connector: RtspSnapshotConnector, rtsp_server: RtspServer
) -> None:
    with pytest.raises(AuthRejected):
        await connector.fetch(target(rtsp_server.basic_url))


async def test_closed_port_is_unreachable_within_the_timeout(
    connector: RtspSnapshotConnector, closed_rtsp_url: str
) -> None:
    started = time.monotonic()
    with pytest.raises(CameraUnreachable) as caught:
        await connector.fetch(target(closed_rtsp_url, timeout_s=2.0))
    assert caught.value.reason == "connection refused"
    assert time.monotonic() - started < 2.0


async def test_silent_server_times_out_in_bounded_time(
    connector: RtspSnapshotConnector, silent_url: str
) -> None:
    started = time.monotonic()
    with pytest.raises(CameraTimeout):
        await connector.fetch(target(silent_url, timeout_s=1.0))
    assert time.monotonic() - started < 2.5


async def test_unknown_mount(connector: RtspSnapshotConnector, rtsp_server: RtspServer) -> None:
    url = rtsp_server.public_url.replace("/cam1", "/nothing-here")
    with pytest.raises(BadResponse) as caught:
        await connector.fetch(target(url))
    assert caught.value.reason == "stream not found"


async def test_not_an_rtsp_url(connector: RtspSnapshotConnector) -> None:
    with pytest.raises(BadResponse, match="invalid URL"):
        await connector.fetch(target("http://127.0.0.1/cam1"))
    with pytest.raises(SnapshotError, match="no URL"):
        await connector.fetch(CameraTarget(uid="u", kind="rtsp"))


async def test_grabs_beyond_the_pool_wait_for_a_slot(rtsp_server: RtspServer) -> None:
    async with aiohttp.ClientSession() as session:
        rtsp = RtspSnapshotConnector(ConnectorContext(session=session), threads=2)
        try:
            started = time.monotonic()
            frames = await asyncio.gather(
                *(rtsp.fetch(target(rtsp_server.public_url)) for _ in range(4))
            )
            elapsed = time.monotonic() - started
        finally:
            rtsp.close()
    assert all(inspect_jpeg(f).width == rtsp_server.width for f in frames)
    assert elapsed < 2 * FRAME_WITHIN_S
