"""Fuzzing every operation of the API's own OpenAPI document with schemathesis: never a 5xx.

Schemathesis (`st run`, a subprocess, so its pytest plugin and hypothesis
settings stay out of this test session) reads `/api/v1/openapi.json` from
`camgrid serve` (the `served` fixture) and sends every operation a bounded,
derandomized number of generated requests as the admin, valid and invalid
ones. Checks: no server error, and answers whose status, content type,
headers and body conform to the document. About 1,400 requests, 20-30 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import aiohttp

from tests.fixtures.served import Served

MAX_EXAMPLES = 25
SEED = 20261128
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    )
)


def _st() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent))
    assert found is not None, "schemathesis is not installed (pip install -e '.[test]')"
    return found


async def test_fuzzing_every_operation_finds_no_server_error(
    served: Served, tmp_path: Path
) -> None:
    process = await asyncio.create_subprocess_exec(
        _st(),
        "run",
        f"{served.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {served.admin_token}",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "30",
        "--workers",
        "2",
        "--no-color",
        "--output-sanitize",
        "true",
        cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 300)
    text = out.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    async with aiohttp.ClientSession() as http, http.get(f"{served.url}/api/v1/openapi.json") as r:
        spec = await r.json()
    operations = sum(len(methods) for methods in spec["paths"].values())
    tested = re.search(r"Tested:\s+(\d+)", text)
    assert tested is not None, text[-2000:]
    # Every operation but the document itself (schemathesis leaves out the URL it loaded).
    assert int(tested.group(1)) == operations - 1
