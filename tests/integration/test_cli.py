"""The `camgrid` command line, run as a user runs it: a subprocess in a fresh working folder."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from ingest.image import inspect_jpeg
from tests.fixtures.demo import running_demo

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"


def camgrid(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "camgrid.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_the_examples(tmp_path: Path) -> None:
    result = camgrid("validate", "--config", str(EXAMPLES), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("chengguan (") and "cameras" in line for line in lines)
    assert len([line for line in lines if "cameras [" in line]) == 5


def test_validate_reports_every_error_with_file_line_and_field(tmp_path: Path) -> None:
    root = tmp_path / "cfg"
    (root / "departments").mkdir(parents=True)
    (root / "departments" / "water.yaml").write_text(
        "department: {id: water, name: 水利局}\n"
        "defaults:\n"
        "  intervall: 5m\n"
        "cameras:\n"
        "  - id: w1\n"
        "    name: 泵站\n"
        "    snapshot: {kind: http, url: 'ftp://10.0.0.1/a.jpg'}\n"
        "  - id: 12345\n"
        "    name: 闸口\n"
        "    snapshot: {kind: http, url: 'http://10.0.0.2/a.jpg'}\n",
        encoding="utf-8",
    )
    result = camgrid("validate", "--config", str(root), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("departments/water.yaml:3 defaults.intervall: unknown field")
    assert lines[1].startswith("departments/water.yaml:7 cameras[0].snapshot.url: ")
    assert lines[2].startswith("departments/water.yaml:8 cameras[1].id: ")
    assert "quoted" in lines[2]
    assert "3 error(s) in 1 file(s)" in result.stderr


def test_validate_names_a_missing_folder(tmp_path: Path) -> None:
    result = camgrid("validate", "--config", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{tmp_path / 'nope'}: config folder not found"


def test_tokens_are_created_listed_and_revoked(tmp_path: Path) -> None:
    created = camgrid(
        "token",
        "create",
        "--role",
        "operator",
        "--name",
        "duty-desk",
        "--expires",
        "90d",
        "--config",
        str(EXAMPLES),
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"token: cg_[A-Za-z0-9_-]{40,}\n", created.stdout)
    assert (tmp_path / "var" / "catalog.db").exists()
    again = camgrid(
        "token",
        "create",
        "--role",
        "operator",
        "--name",
        "duty-desk",
        "--config",
        str(EXAMPLES),
        cwd=tmp_path,
    )
    assert again.returncode == 2
    assert again.stderr.strip() == "camgrid: a token named 'duty-desk' exists; revoke it first"
    no_dept = camgrid(
        "token",
        "create",
        "--role",
        "department",
        "--name",
        "w",
        "--config",
        str(EXAMPLES),
        cwd=tmp_path,
    )
    assert no_dept.stderr.strip() == "camgrid: --department is required for a department token"
    listed = camgrid("token", "list", "--config", str(EXAMPLES), cwd=tmp_path)
    assert listed.stdout.startswith("duty-desk\toperator\t-\tactive\t")
    assert created.stdout.split()[1] not in listed.stdout
    revoked = camgrid("token", "revoke", "duty-desk", "--config", str(EXAMPLES), cwd=tmp_path)
    assert revoked.stdout.strip() == "revoked: duty-desk"
    listed = camgrid("token", "list", "--config", str(EXAMPLES), cwd=tmp_path)
    assert "\trevoked\t" in listed.stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "var" / "catalog.db")) as db:
        audit = db.execute(
            "SELECT principal, role, action, camera_uid, client, target FROM audit_log ORDER BY id"
        ).fetchall()
    who = f"cli:{getpass.getuser()}"
    assert audit == [  # the refused create and the failed one left nothing
        (who, "cli", "token_create", None, socket.gethostname(), "duty-desk"),
        (who, "cli", "token_revoke", None, socket.gethostname(), "duty-desk"),
    ]


@dataclass
class Demo:
    url: str
    token: str
    console: str


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    """`camgrid demo --cameras 60` on a free port in a fresh folder."""
    async with running_demo(tmp_path_factory.mktemp("demo"), 60) as lines:
        yield Demo(lines.url, lines.token, lines.console)


async def test_demo_serves_pictures_to_a_token_holder_only(demo: Demo) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", demo.url)
    assert demo.console == f"{demo.url}#token={demo.token}"
    auth = {"Authorization": f"Bearer {demo.token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{demo.url}api/v1/cameras") as refused:
            assert refused.status == 401
            assert refused.content_type == "application/problem+json"
        deadline = time.monotonic() + 45
        while True:
            async with http.get(f"{demo.url}api/v1/stats", headers=auth) as response:
                stats = await response.json()
            if stats["snapshots"]["total"] >= 40 or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        assert stats["cameras"]["total"] == 60
        assert stats["snapshots"]["total"] >= 40
        async with http.get(
            f"{demo.url}api/v1/cameras", params={"status": "online", "limit": "1"}, headers=auth
        ) as response:
            camera = (await response.json())["items"][0]
        async with http.get(f"{demo.url}api/v1/cameras/{camera['uid']}/latest.jpg") as refused:
            assert refused.status == 401
        async with http.get(
            f"{demo.url}api/v1/cameras/{camera['uid']}/latest.jpg", headers=auth
        ) as response:
            assert response.status == 200
            assert response.content_type == "image/jpeg"
            check = inspect_jpeg(await response.read())
        assert check.flags == ()
        assert (check.width, check.height) == (640, 360)


def test_fsck_on_a_fresh_folder_is_clean(tmp_path: Path) -> None:
    result = camgrid("fsck", "--config", str(EXAMPLES), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "checked 0 snapshot rows and 0 objects",
        "0 dangling rows, 0 orphan objects",
    ]
