"""`allow_networks` holds for every hop of a poll, redirects included.

Two real servers on loopback: a camera on 127.0.0.1 that redirects, and a host
on 127.0.0.2 (another address, as another network would be). A redirect to a
host outside the department's networks is refused before anything is sent to it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from ingest.connectors import (
    AddressRefused,
    CameraTarget,
    ConnectorContext,
    HttpSnapshotConnector,
)
from ingest.farm import CameraFarm

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
ANY_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


@dataclass
class Hosts:
    """The redirecting camera's URL and the requests the other host received."""

    camera_url: str
    elsewhere_hits: list[str] = field(default_factory=list)


@pytest.fixture
async def connector() -> AsyncIterator[HttpSnapshotConnector]:
    async with aiohttp.ClientSession() as session:
        yield HttpSnapshotConnector(ConnectorContext(session=session))


@pytest.fixture
async def hosts(camera_farm: CameraFarm) -> AsyncIterator[Hosts]:
    picture = next(iter(camera_farm.frames.scenes.values()))[0]
    found = Hosts(camera_url="")

    async def elsewhere(request: web.Request) -> web.Response:
        found.elsewhere_hits.append(request.path)
        return web.Response(body=picture, content_type="image/jpeg")

    other = web.Application()
    other.router.add_get("/picture.jpg", elsewhere)
    other_runner = web.AppRunner(other)
    await other_runner.setup()
    await web.TCPSite(other_runner, "127.0.0.2", 0).start()
    other_port = other_runner.addresses[0][1]

    async def redirecting(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.2:{other_port}/picture.jpg")

    camera = web.Application()
    camera.router.add_get("/snapshot.jpg", redirecting)
    camera_runner = web.AppRunner(camera)
    await camera_runner.setup()
    await web.TCPSite(camera_runner, "127.0.0.1", 0).start()
    found.camera_url = f"http://127.0.0.1:{camera_runner.addresses[0][1]}/snapshot.jpg"
    try:
        yield found
    finally:
        await camera_runner.cleanup()
        await other_runner.cleanup()


async def test_a_redirect_outside_allow_networks_is_refused_before_it_is_sent(
    connector: HttpSnapshotConnector, hosts: Hosts
) -> None:
    target = CameraTarget(
        uid="water:r1", kind="http", url=hosts.camera_url, allow_networks=LOOPBACK
    )
    with pytest.raises(AddressRefused) as refused:
        await connector.fetch(target)
    assert refused.value.reason == "host 127.0.0.2 not in allow_networks"
    assert hosts.elsewhere_hits == []


async def test_a_redirect_inside_allow_networks_is_followed(
    connector: HttpSnapshotConnector, hosts: Hosts, camera_farm: CameraFarm
) -> None:
    target = CameraTarget(
        uid="water:r1", kind="http", url=hosts.camera_url, allow_networks=ANY_LOOPBACK
    )
    data = await connector.fetch(target)
    assert data == next(iter(camera_farm.frames.scenes.values()))[0]
    assert hosts.elsewhere_hits == ["/picture.jpg"]


async def test_without_allow_networks_redirects_are_followed_as_before(
    connector: HttpSnapshotConnector, hosts: Hosts
) -> None:
    target = CameraTarget(uid="water:r1", kind="http", url=hosts.camera_url)
    await connector.fetch(target)
    assert hosts.elsewhere_hits == ["/picture.jpg"]
