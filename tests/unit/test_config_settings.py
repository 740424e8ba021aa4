"""Service settings from ``camgrid.toml``, with ``CAMGRID_*`` variables winning."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigInvalid, ServiceSettings, load_config


def setup(root: Path, toml: str | None) -> Path:
    (root / "departments").mkdir(exist_ok=True)
    (root / "departments" / "a.yaml").write_text(
        "department: {id: a, name: 甲}\n", encoding="utf-8"
    )
    if toml is not None:
        (root / "camgrid.toml").write_text(toml, encoding="utf-8")
    return root


def problems(root: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigInvalid) as info:
        load_config(root, env=env or {})
    return [str(issue) for issue in info.value.issues]


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMGRID_LEASE_SECONDS", "99")  # ignored: the given env is used
    settings = load_config(setup(tmp_path, None), env={}).settings
    assert settings.database_url == "sqlite+aiosqlite:///var/catalog.db"
    assert settings.store_url == "file:var/objects"
    assert settings.gb28181 is None
    assert settings.lease_seconds == 15
    assert settings.spool_dir == Path("var/spool")
    assert settings.spool_max_bytes == 1 << 30


def test_file_values_and_environment_wins(tmp_path: Path) -> None:
    toml = (
        'database_url = "postgresql+asyncpg://camgrid:pw@db/camgrid"\n'
        "lease_seconds = 30\n"
        "[gb28181]\n"
        'id = "43020300002000000001"\n'
    )
    env = {
        "CAMGRID_STORE_URL": "s3://ACCESS:SECRET@127.0.0.1:9000/camgrid?secure=false",
        "CAMGRID_LEASE_SECONDS": "20",
        "CAMGRID_GB28181__LISTEN": "127.0.0.1:5070",
        "UNRELATED": "x",
    }
    settings = load_config(setup(tmp_path, toml), env=env).settings
    assert settings.database_url == "postgresql+asyncpg://camgrid:pw@db/camgrid"
    assert settings.store_url == "s3://ACCESS:SECRET@127.0.0.1:9000/camgrid?secure=false"
    assert settings.lease_seconds == 20
    assert settings.gb28181 is not None
    assert settings.gb28181.listen == "127.0.0.1:5070"
    assert settings.gb28181.realm == "4302030000"
    assert "SECRET" not in repr(settings)
    assert "pw@" not in repr(settings)


def test_service_settings_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMGRID_DATABASE_URL", "postgresql+asyncpg://db/x")
    settings = ServiceSettings(database_url="sqlite+aiosqlite:///other.db", lease_seconds=5)
    assert settings.database_url == "postgresql+asyncpg://db/x"
    assert settings.lease_seconds == 5


def test_errors_point_at_the_toml_line(tmp_path: Path) -> None:
    toml = (
        "# settings\n"
        "lease_seconds = 0\n"
        'databse_url = "x"\n'
        "\n"
        "[gb28181]\n"
        'listen = "0.0.0.0"\n'
        "id = 4302\n"
    )
    assert problems(setup(tmp_path, toml)) == [
        "camgrid.toml:2 lease_seconds: should be greater than 0",
        "camgrid.toml:3 databse_url: unknown field 'databse_url'; did you mean 'database_url'?",
        "camgrid.toml:6 gb28181.listen: should be HOST:PORT, e.g. 0.0.0.0:5060",
        "camgrid.toml:7 gb28181.id: ids must be quoted strings",
    ]


def test_missing_field_points_at_the_table(tmp_path: Path) -> None:
    toml = 'store_url = "file:objects"\n[gb28181]\nrealm = "4302030000"\n'
    assert problems(setup(tmp_path, toml)) == ["camgrid.toml:2 gb28181.id: field required"]


def test_toml_syntax_error(tmp_path: Path) -> None:
    toml = 'store_url = "file:objects"\nlease_seconds = \n'
    assert problems(setup(tmp_path, toml)) == ["camgrid.toml:2 -: invalid TOML: Invalid value"]


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    env = {"CAMGRID_SPOOL_MAX_BYTES": "lots", "CAMGRID_GB28181__ID": "1"}
    assert problems(setup(tmp_path, None), env) == [
        "<environment>:0 CAMGRID_GB28181__ID: should be 20 digits",
        "<environment>:0 CAMGRID_SPOOL_MAX_BYTES: should be a whole number",
    ]
