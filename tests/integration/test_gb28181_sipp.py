"""The SIP endpoint against other peers: Debian's SIPp, raw sockets, a second worker, validate.

SIPp plays a lower platform from tests/fixtures/sipp/register.xml: REGISTER
with digest, then a Keepalive MESSAGE.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from sqlalchemy import func, select

from catalog.db import Catalog
from catalog.gb28181_platforms import ENDPOINT_LEASE, acquire_service_lease, platform_bindings
from catalog.models import Camera, ServiceLease, utcnow
from catalog.store import LocalStore
from catalog.sync import sync_config
from config import Gb28181Settings
from ingest.gb28181.report import gb28181_id_problems, registration_lines
from ingest.gb28181.service import Gb28181Service
from ingest.worker import WorkerSettings, run_worker
from tests.fixtures.gb_platform import (
    PLATFORM_ID,
    PLATFORM_PASSWORD,
    UPPER_ID,
    FakeLowerPlatform,
    catalog_items,
    eventually,
    gb_config,
    running_upper,
)

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIO = Path(__file__).parents[1] / "fixtures" / "sipp" / "register.xml"
SIPP_ID, SIPP_PASSWORD = "43020300002000000003", "sipp-Secret1"  # as in register.xml


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
async def test_sipp_registers_with_digest_and_keeps_alive(
    catalog: Catalog, transport: Literal["UDP", "TCP"], tmp_path: Path
) -> None:
    loaded = gb_config(keepalive_s=60, platforms=[(SIPP_ID, SIPP_PASSWORD)])
    async with running_upper(catalog, loaded) as service:
        assert service.endpoint is not None
        local = free_port(socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM)
        sipp = await asyncio.create_subprocess_exec(
            SIPP,
            "-sf",
            str(SCENARIO),
            "-m",
            "1",
            "-t",
            "u1" if transport == "UDP" else "t1",
            "-i",
            "127.0.0.1",
            "-p",
            str(local),
            "-timeout",
            "20s",
            "-timeout_error",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(tmp_path / "sipp-errors.log"),
            f"127.0.0.1:{service.endpoint.port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=tmp_path,
        )
        _, stderr = await asyncio.wait_for(sipp.communicate(), 30.0)
        errors = tmp_path / "sipp-errors.log"
        detail = errors.read_text(errors="replace") if errors.exists() else ""
        assert sipp.returncode == 0, stderr.decode(errors="replace") + detail

        async def online() -> bool:
            async with catalog.sessions() as session:
                binding = (await platform_bindings(session)).get(SIPP_ID)
            return binding is not None and binding.state == "online"

        await eventually(online, within=3.0)
        async with catalog.sessions() as session:
            binding = (await platform_bindings(session))[SIPP_ID]
            assert binding.contact == f"{transport.lower()} 127.0.0.1:{local}"


async def _exchange(sock: socket.socket, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(sock, data)
    return await asyncio.wait_for(loop.sock_recv(sock, 65536), 3.0)


async def test_udp_retransmissions_get_the_same_answer_and_garbage_a_clear_400(
    catalog: Catalog,
) -> None:
    async with running_upper(catalog, gb_config()) as service:
        assert service.endpoint is not None
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(("127.0.0.1", service.endpoint.port))
        port = sock.getsockname()[1]
        register = (
            "REGISTER sip:43020300002000000001@4302030000 SIP/2.0\r\n"
            f"v: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKretrans1\r\n"
            f"f: <sip:{PLATFORM_ID}@4302030000>;tag=1\r\n"
            f"t: <sip:{PLATFORM_ID}@4302030000>\r\n"
            "i: retrans-1\r\nCSeq: 1 REGISTER\r\nExpires: 3600\r\nl: 0\r\n\r\n"
        ).encode()
        with sock:
            first = await _exchange(sock, register)
            again = await _exchange(sock, register)
            assert first.startswith(b"SIP/2.0 401 Unauthorized\r\n")
            assert again == first  # same nonce, same To tag: the cached answer
            bad = register.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 OPTIONS")
            answer = await _exchange(sock, bad)
            assert answer.startswith(b"SIP/2.0 400 Bad Request (CSeq method OPTIONS differs")
            await asyncio.get_running_loop().sock_sendall(sock, b"\x00\xffnot sip at all\r\n\r\n")
            options = register.replace(b"REGISTER", b"OPTIONS").replace(b"retrans1", b"opt")
            assert (await _exchange(sock, options)).startswith(b"SIP/2.0 200 OK\r\n")


async def test_only_the_lease_holder_serves_and_another_takes_over(catalog: Catalog) -> None:
    loaded = gb_config()
    async with running_upper(catalog, loaded, owner="worker-a", lease_s=0.6) as first:
        second = Gb28181Service(loaded, catalog, owner="worker-b", lease_s=0.6)
        stop = asyncio.Event()
        task = asyncio.create_task(second.run(stop))
        await asyncio.sleep(0.5)
        assert not second.serving.is_set()
        assert first.serving.is_set()
    # worker-a stopped and let its lease go: worker-b takes the endpoint over
    await asyncio.wait_for(second.serving.wait(), 3.0)
    async with catalog.sessions() as session:
        lease = await session.get(ServiceLease, ENDPOINT_LEASE)
        assert lease is not None
        assert lease.owner == "worker-b"
    stop.set()
    await task


async def test_validate_reports_ids_and_registrations(catalog: Catalog, tmp_path: Path) -> None:
    url = catalog.engine.url.render_as_string(hide_password=False)
    loaded = gb_config(
        database_url=url,
        platforms=[(PLATFORM_ID, PLATFORM_PASSWORD), ("43020300001340000001", "x")],
    )
    problems = gb28181_id_problems(loaded)
    assert problems == [
        "police.yaml inventories[1].device_id: type code 134 (报警输入设备) cannot register; "
        "expected a platform (200-299) or a recorder (111-130)"
    ]
    assert await registration_lines(loaded, tmp_path) == [
        "gb28181: the SIP endpoint is not running; registrations unknown"
    ]
    async with running_upper(catalog, loaded, owner="worker-a") as service:
        assert service.endpoint is not None
        upper = ("127.0.0.1", service.endpoint.port)
        async with FakeLowerPlatform(
            PLATFORM_ID, PLATFORM_PASSWORD, upper, upper_id=UPPER_ID
        ) as lower:
            assert await lower.register() == [401, 200]

            async def registered() -> bool:
                async with catalog.sessions() as session:
                    return PLATFORM_ID in await platform_bindings(session)

            await eventually(registered, within=3.0)
            lines = await registration_lines(loaded, tmp_path)
    assert lines[0] == "gb28181: SIP endpoint served by worker-a"
    assert lines[1].startswith(
        f"gb28181 {PLATFORM_ID} (police): registered from udp 127.0.0.1:{lower.port} until "
    )
    assert lines[1].endswith(", online")
    assert lines[2] == "gb28181 43020300001340000001 (police): not registered"


async def test_the_ingest_worker_serves_sip_when_configured(
    catalog: Catalog, tmp_path: Path
) -> None:
    port = free_port(socket.SOCK_DGRAM)
    base = gb_config()
    assert base.settings.gb28181 is not None
    sip = Gb28181Settings(listen=f"127.0.0.1:{port}", id=UPPER_ID)
    loaded = replace(base, settings=base.settings.model_copy(update={"gb28181": sip}))
    async with catalog.sessions() as session, session.begin():
        await sync_config(session, loaded.departments, loaded.grid_cells, utcnow())
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(loaded, catalog, LocalStore(tmp_path / "objects"), stop, WorkerSettings())
    )
    try:
        async with FakeLowerPlatform(
            PLATFORM_ID,
            PLATFORM_PASSWORD,
            ("127.0.0.1", port),
            upper_id=UPPER_ID,
            items=catalog_items(PLATFORM_ID, 20),
        ) as lower:
            for _ in range(100):  # until the worker holds the lease and listens
                try:
                    statuses = await asyncio.wait_for(lower.register(), 0.6)
                    break
                except TimeoutError:
                    continue
            assert statuses == [401, 200]
            lower.start_keepalives(0.2)

            async def landed() -> bool:
                async with catalog.sessions() as session:
                    count = await session.scalar(select(func.count()).select_from(Camera))
                return count == 20

            await eventually(landed, within=5.0)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 20)
    async with catalog.sessions() as session:
        lease = await session.get(ServiceLease, ENDPOINT_LEASE)
        assert lease is not None
        assert lease.lease_until < utcnow()  # let go on the way out


async def test_a_lapsed_lease_moves_to_another_worker(catalog: Catalog) -> None:
    now = utcnow()
    async with catalog.sessions() as session, session.begin():
        assert await acquire_service_lease(session, ENDPOINT_LEASE, "a", now, 15)
        assert not await acquire_service_lease(session, ENDPOINT_LEASE, "b", now, 15)
        assert await acquire_service_lease(session, ENDPOINT_LEASE, "a", now, 15)  # renewal
        later = now + timedelta(seconds=16)  # "a" died without letting go
        assert await acquire_service_lease(session, ENDPOINT_LEASE, "b", later, 15)
        assert not await acquire_service_lease(session, ENDPOINT_LEASE, "a", later, 15)
