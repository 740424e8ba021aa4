"""Service settings: ``camgrid.toml`` in the config folder, with ``CAMGRID_*`` environment winning.

``ServiceSettings()`` on its own reads ``os.environ`` like any pydantic
settings class. :func:`load_settings` reads the TOML file and an explicit
environment mapping, and reports problems as :class:`ConfigIssue` lines.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from config.department import StrictModel
from config.durations import PositiveDuration
from config.fields import GbId
from config.issues import ConfigIssue, format_path, plain_message
from config.yamlpos import DocPath

__all__ = ["ENVIRONMENT", "SETTINGS_FILE", "Gb28181Settings", "ServiceSettings", "load_settings"]

SETTINGS_FILE = "camgrid.toml"
ENVIRONMENT = "<environment>"
"""The ``file`` of an issue caused by a ``CAMGRID_*`` variable."""

ENV_PREFIX = "CAMGRID_"
_LISTEN = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):(?P<port>[0-9]{1,5})")


def _check_listen(value: str) -> str:
    match = _LISTEN.fullmatch(value)
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise PydanticCustomError("listen", "should be HOST:PORT, e.g. 0.0.0.0:5060")
    return value


class Gb28181Settings(StrictModel):
    """This platform's SIP endpoint for GB/T 28181 ``realm`` defaults to id[:10]."""

    listen: Annotated[str, AfterValidator(_check_listen)] = "0.0.0.0:5060"
    id: GbId
    realm: str = ""

    @model_validator(mode="before")
    @classmethod
    def _default_realm(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("realm") and isinstance(data.get("id"), str):
            return {**data, "realm": data["id"][:10]}
        return data


_OVERRIDE_ENV: ContextVar[Mapping[str, str] | None] = ContextVar(
    "camgrid_settings_env", default=None
)


class ServiceSettings(BaseSettings):
    """Where the catalog and objects live, and how workers share work.

    ``database_url`` and ``store_url`` may carry passwords, so they stay out of ``repr``.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/catalog.db", min_length=1, repr=False
    )
    store_url: str = Field(default="file:var/objects", min_length=1, repr=False)
    gb28181: Gb28181Settings | None = None
    lease_seconds: int = Field(default=15, gt=0)
    spool_dir: Path = Path("var/spool")
    spool_max_bytes: int = Field(default=1 << 30, gt=0)
    #: How long snapshots are kept where a department's `defaults.retention` is unset
    #: (None: forever). A camera's latest snapshot is always kept.
    retention: PositiveDuration | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment wins over values passed in (which come from ``camgrid.toml``)."""
        override = _OVERRIDE_ENV.get()
        if override is not None:
            return (_MappingEnvSource(settings_cls, override), init_settings)
        return (env_settings, init_settings)


class _MappingEnvSource(EnvSettingsSource):
    """Reads ``CAMGRID_*`` from a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._mapping = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._mapping.items()}


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    token = _OVERRIDE_ENV.set(env)
    try:
        yield
    finally:
        _OVERRIDE_ENV.reset(token)


def load_settings(
    root: Path, env: Mapping[str, str]
) -> tuple[ServiceSettings | None, list[ConfigIssue]]:
    """Read ``root/camgrid.toml`` (a missing file is fine); never raises on bad input."""
    file = root / SETTINGS_FILE
    text = ""
    values: dict[str, Any] = {}
    if file.is_file():
        try:
            text = file.read_text(encoding="utf-8-sig")
            values = tomllib.loads(text)
        except UnicodeDecodeError:
            return None, [ConfigIssue(SETTINGS_FILE, 1, "-", "the file is not UTF-8 text")]
        except tomllib.TOMLDecodeError as exc:
            return None, [_toml_syntax_issue(exc)]
    try:
        from_env = _MappingEnvSource(ServiceSettings, env)()
        with _environment(env):
            return ServiceSettings(**values), []
    except SettingsError as exc:
        return None, [ConfigIssue(ENVIRONMENT, 0, "-", str(exc))]
    except ValidationError as exc:
        return None, _settings_issues(exc, text, from_env)


def _toml_syntax_issue(exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    message = str(exc)
    match = re.search(r"\s*\(at line (\d+), column \d+\)$", message)
    line = 1
    if match is not None:
        line = int(match.group(1))
        message = message[: match.start()]
    elif message.endswith("(at end of document)"):
        message = message.removesuffix("(at end of document)").rstrip()
    return ConfigIssue(SETTINGS_FILE, line, "-", f"invalid TOML: {message}")


def _settings_issues(
    exc: ValidationError, text: str, from_env: Mapping[str, Any]
) -> list[ConfigIssue]:
    lines = _toml_lines(text)
    issues = []
    for error in exc.errors(include_url=False):
        path: DocPath = tuple(error["loc"])
        message = plain_message(error, ServiceSettings, path, {})
        if _came_from(path, from_env):
            variable = ENV_PREFIX + "__".join(str(part).upper() for part in path)
            issues.append(ConfigIssue(ENVIRONMENT, 0, variable, message))
            continue
        line = next(
            (lines[path[:end]] for end in range(len(path), 0, -1) if path[:end] in lines), 1
        )
        issues.append(ConfigIssue(SETTINGS_FILE, line, format_path(path), message))
    return issues


def _came_from(path: DocPath, values: Mapping[str, Any]) -> bool:
    current: Any = values
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return False
        current = current[part]
    return True


_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_TABLE = re.compile(r"\s*\[\s*(" + _KEY + r"(?:\s*\.\s*" + _KEY + r")*)\s*\]")
_ASSIGN = re.compile(r"\s*(" + _KEY + r"(?:\s*\.\s*" + _KEY + r")*)\s*=")


def _toml_lines(text: str) -> dict[DocPath, int]:
    """The line where each ``[table]`` and ``key = `` is written (enough for error messages)."""
    lines: dict[DocPath, int] = {}
    table: DocPath = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE.match(line)
        if header is not None:
            table = _split_key(header.group(1))
            lines.setdefault(table, number)
            continue
        assign = _ASSIGN.match(line)
        if assign is not None:
            lines.setdefault((*table, *_split_key(assign.group(1))), number)
    return lines


def _split_key(text: str) -> DocPath:
    return tuple(part.strip().strip("\"'") for part in re.findall(_KEY, text))
