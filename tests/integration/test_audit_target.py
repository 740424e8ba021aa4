"""Token changes name their token in the audit log, on SQLite and PostgreSQL.

`camgrid token create` and `revoke` run as a user runs them (a subprocess,
with `CAMGRID_DATABASE_URL` pointing at the test's catalog); the rows that
land are read from the database and through the API's `/audit` as the admin
whose token the command line just printed.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from api.app import ApiSettings, create_app
from catalog.db import Catalog
from catalog.models import AuditEntry
from tests.integration.api_env import url_of
from tests.integration.test_cli import EXAMPLES, camgrid


def run_token_command(catalog: Catalog, cwd: Path, *args: str) -> str:
    """`camgrid token ARGS` against the catalog; its stdout (it must succeed)."""
    done = camgrid(
        "token",
        *args,
        "--config",
        str(EXAMPLES),
        cwd=cwd,
        env={"CAMGRID_DATABASE_URL": url_of(catalog)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_token_rows_name_the_token_and_never_hold_it(
    catalog: Catalog, tmp_path: Path
) -> None:
    admin = run_token_command(
        catalog, tmp_path, "create", "--role", "admin", "--name", "auditor"
    ).split()[1]
    duty = run_token_command(
        catalog, tmp_path, "create", "--role", "operator", "--name", "duty-desk"
    ).split()[1]
    assert run_token_command(catalog, tmp_path, "revoke", "duty-desk") == "revoked: duty-desk\n"

    async with catalog.sessions() as session:
        rows = list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    who = f"cli:{getpass.getuser()}"
    assert [(r.principal, r.role, r.action, r.target, r.camera_uid) for r in rows] == [
        (who, "cli", "token_create", "auditor", None),
        (who, "cli", "token_create", "duty-desk", None),
        (who, "cli", "token_revoke", "duty-desk", None),
    ]
    for row in rows:
        stored = repr([getattr(row, c.key) for c in AuditEntry.__table__.columns])
        assert admin not in stored
        assert duty not in stored

    settings = ApiSettings(url_of(catalog), "file:objects", tmp_path)
    async with TestClient(TestServer(create_app(settings), host="127.0.0.1")) as client:
        response = await client.get("/api/v1/audit", headers={"Authorization": f"Bearer {admin}"})
        assert response.status == 200, await response.text()
        body = await response.json()
    assert [(i["action"], i["target"], i["principal"]) for i in body["items"]] == [
        ("token_revoke", "duty-desk", who),  # newest first
        ("token_create", "duty-desk", who),
        ("token_create", "auditor", who),
    ]
    assert admin not in repr(body)
    assert duty not in repr(body)
