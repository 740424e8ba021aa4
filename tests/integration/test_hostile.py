"""Hostile input: path parameters that try to leave the object store, NUL, encoded slashes.

Requests are written to the socket byte for byte (no client normalizes
`../` or re-encodes `%2F` on the way), to every path parameter of every
route the app has. The answer must be 400 or 404, never a 5xx and never the
bytes of a file planted beside the store; and every key the store is asked
for must be a valid key under `img/` or `thumb/`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Final

import pytest

from api.routing import ROUTES
from catalog.store import LocalStore, check_key
from tests.integration.api_env import PROBLEM
from tests.integration.test_roles import OWN_CAMERA, RolesEnv, roles_env

__all__ = ["roles_env"]  # the module's shared app, from test_roles

SENTINEL: Final = b"\xff\xd8 planted outside the store \xff\xd9"
#: Raw path segments, exactly as they go on the wire.
HOSTILE: Final = (
    "..",
    "%2e%2e",
    "..%2F..%2Fsecret.jpg",
    "%2E%2E%2F%2E%2E%2Fsecret.jpg",
    "..%5C..%5Csecret.jpg",
    "%252e%252e%252fsecret.jpg",
    "chengguan:..%2F..%2Fsecret",
    f"{OWN_CAMERA}%2F..%2F..%2Fsecret",
    f"{OWN_CAMERA}%00",
    "%00",
    "a%00b",
    "%E2%80%AEgpj.terces",
    "a" * 3000,
    "1%2F..%2F..%2Fsecret",
    "-1",
    "99999999999999999999999",
    "1e3",
)


async def raw_request(
    host: str, port: int, method: str, target: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange with `target` sent exactly as given."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head_bytes, _, rest = answer.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return status, {k.lower(): v for k, v in fields.items()}, rest


def _targets(env: RolesEnv) -> list[tuple[str, str, str]]:
    """(method, target, which parameter is hostile) for every path parameter of every route."""
    valid = {"uid": OWN_CAMERA, "id": str(env.snapshot_id)}
    found: list[tuple[str, str, str]] = []
    for route in env.client.app[ROUTES]:
        names = re.findall(r"\{(\w+)\}", route.path)
        for name in names:
            for value in HOSTILE:
                target = route.path
                for other in names:
                    target = target.replace(
                        f"{{{other}}}", value if other == name else valid[other]
                    )
                found.append((route.method, target, name))
    return found


@pytest.fixture
def store_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every key the API's local store is asked to read, write or stat."""
    asked: list[str] = []

    def spy(method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        async def wrapper(self: LocalStore, key: str, *args: Any, **kwargs: Any) -> Any:
            asked.append(key)
            return await method(self, key, *args, **kwargs)

        return wrapper

    for name in ("get", "put", "stat", "delete", "presign"):
        monkeypatch.setattr(LocalStore, name, spy(getattr(LocalStore, name)))
    return asked


@pytest.fixture
async def planted(roles_env: RolesEnv) -> AsyncIterator[None]:
    """A picture planted beside the store, and at the places an escape would reach."""
    paths = [roles_env.base_dir / "secret.jpg", roles_env.base_dir / "objects" / "secret.jpg"]
    for path in paths:
        path.write_bytes(SENTINEL)
    yield
    for path in paths:
        path.unlink()


@pytest.mark.usefixtures("planted")
async def test_hostile_path_parameters_never_escape(
    roles_env: RolesEnv, store_spy: list[str]
) -> None:
    server = roles_env.client.server
    assert server.host is not None
    assert server.port is not None
    headers = {
        "Authorization": f"Bearer {roles_env.tokens['admin']}",
        "Content-Type": "application/json",
    }
    unexpected: list[tuple[str, str, int]] = []
    for method, target, name in _targets(roles_env):
        body = b'{"name": null}' if method == "PATCH" else b""
        status, fields, data = await raw_request(
            server.host, server.port, method, target, headers, body
        )
        if status not in (400, 404):
            unexpected.append((method, target[:80], status))
        assert SENTINEL not in data
        assert fields.get("content-type", "").startswith(PROBLEM), (method, target)
        if status == 400:
            assert f'"name":"{name}"' in data.decode().replace(" ", ""), (target, data[:300])
    assert unexpected == []
    assert store_spy == []  # no hostile request reached the store at all
    for path in (
        f"/api/v1/snapshots/{roles_env.snapshot_id}.jpg",
        f"/api/v1/cameras/{OWN_CAMERA}/latest.jpg?size=thumb",
    ):
        status, _, data = await raw_request(server.host, server.port, "GET", path, headers)
        assert status == 200
    assert len(store_spy) == 2  # the legitimate ones did, with keys the catalog built
    for key in store_spy:
        assert check_key(key) == key
        assert key.startswith(("img/", "thumb/"))


async def test_nul_and_hostile_values_in_query_parameters(roles_env: RolesEnv) -> None:
    headers = {"Authorization": f"Bearer {roles_env.tokens['admin']}"}
    for query in ("q=%00", "camera=..%2F%00", "grid=G1%00", "cursor=%00%00", "department=%2F.."):
        path = "/api/v1/audit" if query.startswith("camera") else "/api/v1/cameras"
        response = await roles_env.client.get(f"{path}?{query}", headers=headers)
        assert response.status in (200, 400), query
        if response.status == 400:
            body = await response.json(content_type=None)
            assert [p["name"] for p in body["invalid_params"]] == [query.split("=")[0]]


async def test_a_raw_nul_byte_or_oversized_line_is_refused_by_the_parser(
    roles_env: RolesEnv,
) -> None:
    server = roles_env.client.server
    assert server.host is not None
    assert server.port is not None
    headers = {"Authorization": f"Bearer {roles_env.tokens['admin']}"}
    for target in ("/api/v1/cameras/a\x00b", "/api/v1/cameras?q=" + "x" * 20_000):
        status, _, _ = await raw_request(server.host, server.port, "GET", target, headers)
        assert 400 <= status < 500, target


async def test_the_store_refuses_escaping_keys(roles_env: RolesEnv) -> None:
    store = LocalStore(roles_env.base_dir / "objects", fsync=False)
    for key in ("../secret.jpg", "img/../../secret.jpg", "img/%2F..", "img/a\x00", "/etc/passwd"):
        with pytest.raises(ValueError, match="invalid object key"):
            await store.get(key)
