"""A planted camera password never leaks: not to an answer, a log line, a stored file or a metric.

`camgrid serve` (the `served` fixture) polls cameras that use a unique random
password: digest and basic cameras that accept it, one that refuses it, one
on a port that refuses connections, an RTSP camera on such a port. After a few
poll rounds, captures and an override, every route is called; then every
answer (status, headers, body), the process's logs, the CLI's output and every
file under the working folder (catalog.db and its WAL, objects) are searched
for the password, raw, percent-encoded and inside a Basic header.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.fixtures.served import DEPARTMENT, Served

ROUND_TIMEOUT_S = 45.0


class Recorder:
    """An HTTP client as the admin that keeps every answer it got, byte for byte."""

    def __init__(self, http: aiohttp.ClientSession, served: Served) -> None:
        self.http = http
        self.served = served
        self.answers: list[bytes] = []

    async def call(
        self, method: str, path: str, *, token: str | None = "admin", body: Any = None
    ) -> tuple[int, bytes]:
        headers = {}
        if token is not None:
            value = self.served.admin_token if token == "admin" else token
            headers["Authorization"] = f"Bearer {value}"
        async with self.http.request(
            method, self.served.url + path, headers=headers, json=body, allow_redirects=False
        ) as response:
            data = await response.read()
            head = f"{response.status} {response.reason}\n" + "".join(
                f"{name}: {value}\n" for name, value in response.headers.items()
            )
            self.answers.append(head.encode() + data)
            return response.status, data

    async def json(self, path: str) -> Any:
        status, body = await self.call("GET", path)
        assert status == 200, body[:300]
        return json.loads(body)


async def _cameras(recorder: Recorder) -> dict[str, dict[str, Any]]:
    answer = await recorder.json(f"/api/v1/cameras?department={DEPARTMENT}&limit=1000")
    return {camera["id"]: camera for camera in answer["items"]}


async def _wait_for_poll_rounds(recorder: Recorder) -> dict[str, dict[str, Any]]:
    """Until every camera was judged as its setup means, then two more rounds."""
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while True:
        cameras = await _cameras(recorder)
        judged = (
            cameras["digest"]["last_snapshot_at"] is not None
            and cameras["basic"]["last_snapshot_at"] is not None
            and cameras["wrong-password"]["status_reason"] == "auth rejected"
            and cameras["refused"]["status_reason"] == "connection refused"
            and cameras["rtsp-refused"]["status"] == "offline"
        )
        if judged or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert judged, {uid: (c["status"], c["status_reason"]) for uid, c in cameras.items()}
    await asyncio.sleep(2.5)  # the interval is 1 s: more rounds through every error path
    return cameras


def _paths(spec: dict[str, Any], ids: dict[str, list[str]]) -> Iterator[tuple[str, str]]:
    """(method, path) of every GET operation, once per id of each of its path parameters."""
    for template, methods in spec["paths"].items():
        for method in methods:
            if method != "get":
                continue
            if "{uid}" in template:
                values = ids["uid"]
            elif template.startswith("/api/v1/grids/"):
                values = ids["grid"]
            elif template.startswith("/api/v1/captures/"):
                values = ids["capture"]
            elif "{id}" in template:
                values = ids["snapshot"]
            else:
                values = [""]
            for value in values:
                path = re.sub(r"\{(uid|id)\}", value, template)
                yield "GET", path
                if template.startswith("/api/v1/cameras"):
                    yield "GET", path + "?layers=1"


def _files(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file())


async def test_the_planted_password_never_leaks(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        recorder = Recorder(http, served)
        cameras = await _wait_for_poll_rounds(recorder)
        assert cameras["digest"]["status"] == "online"  # the password did work

        status, body = await recorder.call(
            "POST", f"/api/v1/cameras/{DEPARTMENT}:digest/capture?wait=20"
        )
        assert status == 201, body[:300]
        status, body = await recorder.call(
            "POST", f"/api/v1/cameras/{DEPARTMENT}:wrong-password/capture?wait=20"
        )
        assert status == 202
        failed = json.loads(body)
        assert (failed["state"], failed["error"]) == ("failed", "auth rejected")
        status, body = await recorder.call(
            "POST", f"/api/v1/cameras/{DEPARTMENT}:refused/capture?wait=0"
        )
        assert status == 202
        pending = json.loads(body)
        status, _ = await recorder.call(
            "PATCH", f"/api/v1/cameras/{DEPARTMENT}:basic", body={"name": "改名", "grid_id": "L1"}
        )
        assert status == 200

        spec = await recorder.json("/api/v1/openapi.json")
        snapshots = await recorder.json("/api/v1/snapshots?limit=5")
        ids = {
            "uid": list(served.uids),
            "snapshot": [str(item["id"]) for item in snapshots["items"]],
            "grid": ["L1"],
            "capture": [str(failed["capture_id"]), str(pending["capture_id"])],
        }
        assert ids["snapshot"]
        for method, route in _paths(spec, ids):
            status, body = await recorder.call(method, route)
            assert status < 500, (route, body[:300])
        for extra in ("/api/v1/snapshots/{}.jpg?size=thumb", "/api/v1/cameras?format=geojson"):
            await recorder.call("GET", extra.format(ids["snapshot"][0]))
        await recorder.call("GET", "/api/v1/cameras", token=None)
        await recorder.call("GET", "/api/v1/cameras", token="cg_wrong")
        await recorder.call("GET", "/api/v1/audit?limit=1000")
        await recorder.call("GET", "/api/v1/metrics")
    await asyncio.sleep(0.5)  # the last log lines

    forms = served.secret_forms
    found: list[str] = []
    for n, answer in enumerate(recorder.answers):
        found += [f"answer {n}: {answer[:120]!r}" for form in forms if form in answer]
    found += ["serve's logs" for form in forms if form in served.stderr]
    found += ["the CLI's output" for form in forms if form in served.cli_output]
    files = list(_files(served.workdir))
    for path in files:
        data = path.read_bytes()
        found += [str(path.relative_to(served.workdir)) for form in forms if form in data]
    assert found == []
    # The search did look where the secret would be: the catalog, its WAL, stored pictures.
    names = {path.name for path in files}
    assert "catalog.db" in names
    assert any(path.suffix == ".jpg" and "objects" in path.parts for path in files)
    assert len(recorder.answers) > 60
    assert b"camgrid_api_request_duration_seconds" in recorder.answers[-1]
    assert served.stderr.count(b"\n") > 20
