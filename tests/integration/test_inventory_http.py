"""``http_json`` inventories against a department platform served by aiohttp on a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from config import DepartmentConfig, load_config
from ingest.farm.auth import DigestAuthority, Verdict, check_basic
from ingest.inventory import HttpJsonFetcher, InventoryContext, InventoryError, InventoryResult

USER = "platform"
PASSWORD = "pl@tform-S3cret:x"
PASSWORD_ENV = "TEST_PLATFORM_PASSWORD"
MAP = {
    "id": "cameraIndexCode",
    "name": "cameraName",
    "lon": "longitude",
    "lat": "latitude",
    "address": "installLocation",
    "snapshot_url": "snapUrl",
}


def camera(n: int, **changes: Any) -> dict[str, Any]:
    item = {
        "cameraIndexCode": f"4302030000132{n:07d}",
        "cameraName": f"芦淞区第{n}号路口",
        "longitude": round(113.10 + n * 1e-3, 6),
        "latitude": 27.80,
        "installLocation": "芦淞区建设路",
        "snapUrl": f"http://10.43.0.{n % 250 + 1}/ISAPI/Streaming/channels/101/picture",
    }
    item.update(changes)
    return item


@dataclass
class Platform:
    """A department platform: its camera list, paged; it records every request's query."""

    cameras: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    digest: DigestAuthority = field(default_factory=DigestAuthority)
    url: str = ""

    def page(self, request: web.Request) -> list[dict[str, Any]]:
        self.requests.append(dict(request.query))
        number, size = int(request.query["pageNo"]), int(request.query["pageSize"])
        return self.cameras[(number - 1) * size : number * size]

    async def paged(self, request: web.Request) -> web.Response:
        items = self.page(request)
        return web.json_response({"code": "0", "data": {"total": len(self.cameras), "list": items}})

    async def basic(self, request: web.Request) -> web.Response:
        if check_basic(request.headers.get("Authorization"), USER, PASSWORD) is not Verdict.OK:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="p"'})
        return await self.paged(request)

    async def digest_auth(self, request: web.Request) -> web.Response:
        verdict = self.digest.check(
            request.headers.get("Authorization"),
            method=request.method,
            uri=request.path_qs,
            username=USER,
            password=PASSWORD,
        )
        if verdict is not Verdict.OK:
            challenge = self.digest.challenge(stale=verdict is Verdict.STALE)
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        return await self.paged(request)

    async def nested(self, request: web.Request) -> web.Response:
        return web.json_response({"result": [{"rows": self.cameras}]})

    async def gbk(self, request: web.Request) -> web.Response:
        body = json.dumps({"rows": self.cameras}, ensure_ascii=False).encode("gbk")
        return web.Response(body=body, content_type="application/json", charset="GBK")

    async def error(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response({"data": {"list": []}})

    async def big(self, request: web.Request) -> web.StreamResponse:
        filler = {"data": {"list": [camera(n) for n in range(100)]}}
        body = json.dumps(filler).encode()
        if request.query.get("chunked"):
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(body), 1000):
                await response.write(body[start : start + 1000])
            await response.write_eof()
            return response
        return web.Response(body=body, content_type="application/json")

    async def refusal(self, request: web.Request) -> web.Response:
        return web.json_response({"code": "0x0401", "msg": "token expired", "data": None})

    async def ignores_paging(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        return web.json_response({"data": {"list": self.cameras[:10]}})

    async def html(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    served = Platform()
    app = web.Application()
    app.router.add_get("/api/cameras", served.paged)
    app.router.add_get("/basic/cameras", served.basic)
    app.router.add_get("/digest/cameras", served.digest_auth)
    app.router.add_get("/nested", served.nested)
    app.router.add_get("/gbk", served.gbk)
    app.router.add_get("/error", served.error)
    app.router.add_get("/slow", served.slow)
    app.router.add_get("/big", served.big)
    app.router.add_get("/refusal", served.refusal)
    app.router.add_get("/ignores-paging", served.ignores_paging)
    app.router.add_get("/html", served.html)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield served
    finally:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def department(
    root: Path,
    url: str,
    *,
    items: str = "data.list",
    paged: bool = True,
    auth: str = "none",
    password: str = PASSWORD,
    timeout: str = "5s",
) -> DepartmentConfig:
    inventory: dict[str, Any] = {"kind": "http_json", "url": url, "every": "1h", "map": MAP}
    if items:
        inventory["items"] = items
    if paged:
        inventory["pages"] = {"param": "pageNo", "size_param": "pageSize", "size": 10}
    defaults: dict[str, Any] = {"crs": "gcj02", "timeout": timeout}
    if auth != "none":
        defaults["auth"] = {"scheme": auth, "username": USER, "password": f"${{{PASSWORD_ENV}}}"}
    document = {
        "department": {"id": "chengguan", "name": "城管局"},
        "defaults": defaults,
        "inventories": [inventory],
    }
    (root / "departments").mkdir(parents=True, exist_ok=True)
    (root / "departments" / "chengguan.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True), encoding="utf-8"
    )
    (loaded,) = load_config(root, env={PASSWORD_ENV: password}).departments
    return loaded


async def fetch(
    session: aiohttp.ClientSession, dept: DepartmentConfig, **options: Any
) -> InventoryResult:
    fetcher = HttpJsonFetcher(InventoryContext(session=session), **options)
    return await fetcher.fetch(dept.inventories[0], dept)


async def failure(session: aiohttp.ClientSession, dept: DepartmentConfig, **options: Any) -> str:
    with pytest.raises(InventoryError) as caught:
        await fetch(session, dept, **options)
    return caught.value.reason


async def test_pages_until_a_short_page(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(n) for n in range(1, 24)]
    result = await fetch(session, department(tmp_path, f"{platform.url}/api/cameras?appKey=k"))
    assert [r["pageNo"] for r in platform.requests] == ["1", "2", "3"]
    assert all(r["pageSize"] == "10" and r["appKey"] == "k" for r in platform.requests)
    assert len(result.rows) == 23
    assert result.problems == []
    first = result.rows[0]
    assert (first.id, first.name, first.address) == (
        "43020300001320000001",
        "芦淞区第1号路口",
        "芦淞区建设路",
    )
    assert (first.lon, first.lat, first.snapshot_kind) == (113.101, 27.80, "http")


async def test_a_list_filling_whole_pages_ends_at_an_empty_page(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(n) for n in range(1, 21)]
    result = await fetch(session, department(tmp_path, f"{platform.url}/api/cameras"))
    assert [r["pageNo"] for r in platform.requests] == ["1", "2", "3"]
    assert len(result.rows) == 20


async def test_a_dotted_path_with_a_list_position_and_no_paging(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(1), camera(2)]
    dept = department(tmp_path, f"{platform.url}/nested", items="result.0.rows", paged=False)
    assert [r.id for r in (await fetch(session, dept)).rows] == [
        "43020300001320000001",
        "43020300001320000002",
    ]


async def test_a_gbk_answer_keeps_its_names(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(1)]
    dept = department(tmp_path, f"{platform.url}/gbk", items="rows", paged=False)
    assert (await fetch(session, dept)).rows[0].name == "芦淞区第1号路口"


async def test_bad_items_are_named_by_page_item_and_field(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(n) for n in range(1, 11)]
    platform.cameras[2] = camera(3, longitude="东经113")
    platform.cameras[4] = camera(5, cameraIndexCode=None)
    platform.cameras += [camera(11), "not an object"]  # type: ignore[list-item]
    result = await fetch(session, department(tmp_path, f"{platform.url}/api/cameras"))
    assert len(result.rows) == 9
    base = f"{platform.url}/api/cameras"
    assert [str(p) for p in result.problems] == [
        f"{base} page 1 item 3 longitude: '东经113' is not a number",
        f"{base} page 1 item 5 cameraIndexCode: empty id",
        f"{base} page 2 item 2: is a string, not an object",
    ]


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_auth_from_the_department_defaults(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path, auth: str
) -> None:
    platform.cameras = [camera(n) for n in range(1, 16)]
    url = f"{platform.url}/{auth}/cameras"
    dept = department(tmp_path / "ok", url, auth=auth)
    assert len((await fetch(session, dept)).rows) == 15
    assert [r["pageNo"] for r in platform.requests] == ["1", "2"]
    wrong = department(tmp_path / "wrong", url, auth=auth, password="nope")
    reason = await failure(session, wrong)
    assert reason == (
        f"{platform.url}/{auth}/cameras page 1: HTTP 401: the platform refused the "
        "credentials of the department's defaults.auth"
    )
    assert PASSWORD not in reason
    assert "nope" not in reason


async def test_a_server_error_names_page_and_status(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    reason = await failure(session, department(tmp_path, f"{platform.url}/error"))
    assert reason == f"{platform.url}/error page 1: HTTP 500 Internal Server Error"


async def test_a_platform_that_never_answers_times_out(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dept = department(tmp_path, f"{platform.url}/slow", timeout="300ms")
    loop = asyncio.get_running_loop()
    started = loop.time()
    reason = await failure(session, dept)
    assert loop.time() - started < 2
    assert reason.startswith(f"{platform.url}/slow page 1: timed out (no answer within 0.3 s")


@pytest.mark.parametrize("query", ["", "?chunked=1"])
async def test_an_oversize_page_is_refused(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path, query: str
) -> None:
    dept = department(tmp_path, f"{platform.url}/big{query}", paged=False)
    reason = await failure(session, dept, max_page_bytes=10_000)
    assert reason == f"{platform.url}/big: the answer is larger than 10,000 bytes"
    assert len((await fetch(session, dept)).rows) == 100  # under the default cap


async def test_what_the_platform_says_when_the_list_is_missing(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    reason = await failure(session, department(tmp_path, f"{platform.url}/refusal", paged=False))
    assert reason == (
        f"{platform.url}/refusal: no list at 'data.list': no 'list' under data, which is null; "
        "the platform says 'token expired'"
    )


async def test_a_platform_ignoring_the_page_parameter_is_caught(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(n) for n in range(1, 11)]
    reason = await failure(session, department(tmp_path, f"{platform.url}/ignores-paging"))
    assert "page 2 repeats the page before it; does the platform read 'pageNo'?" in reason
    assert len(platform.requests) == 2


async def test_the_page_count_is_capped(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    platform.cameras = [camera(n) for n in range(1, 101)]
    reason = await failure(
        session, department(tmp_path, f"{platform.url}/api/cameras"), max_pages=3
    )
    assert (
        reason == f"{platform.url}/api/cameras: more than 3 pages; stopped, and nothing was synced"
    )


async def test_html_and_a_wrong_id_field_and_a_closed_port(
    platform: Platform, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    reason = await failure(session, department(tmp_path / "a", f"{platform.url}/html"))
    assert reason.startswith(f"{platform.url}/html page 1: the answer is not JSON (Expecting value")
    platform.cameras = [{"indexCode": "x", "name": "y"}]
    dept = department(tmp_path / "b", f"{platform.url}/nested", items="result.0.rows", paged=False)
    assert await failure(session, dept) == (
        f"{platform.url}/nested: no item has the id field 'cameraIndexCode' "
        "(fields of the first: indexCode, name)"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = department(tmp_path / "c", f"http://127.0.0.1:{port}/api", paged=False)
    assert await failure(session, closed) == (
        f"http://127.0.0.1:{port}/api: cannot connect (connection refused)"
    )
