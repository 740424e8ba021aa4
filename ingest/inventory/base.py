"""What every inventory fetcher shares: the rows it returns, its errors, its protocol.

An inventory is a camera list a department already keeps (a spreadsheet, its
platform's API, the devices themselves). A fetcher turns one into rows; the
sync (`ingest.inventory.sync`) turns rows into catalog cameras.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

from config import DepartmentConfig, InventorySettings


@dataclass(frozen=True)
class InventoryRow:
    """One camera as the department's list describes it."""

    id: str
    name: str
    address: str = ""
    lon: float | None = None
    lat: float | None = None
    snapshot_url: str | None = None
    snapshot_kind: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # e.g. manufacturer, model, firmware


@dataclass(frozen=True)
class RowProblem:
    """A row the fetcher could not use, and exactly where it is."""

    where: str  # e.g. "点位表.csv row 7 column 经度"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class InventoryResult:
    """Good rows and rejected rows of one fetch."""

    rows: list[InventoryRow]
    problems: list[RowProblem] = field(default_factory=list)


class InventoryError(Exception):
    """The whole fetch failed (unreachable, bad answer, unreadable file). Retires nothing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class InventoryContext:
    """Shared resources a fetcher may use."""

    session: aiohttp.ClientSession
    executor: Executor | None = None


class InventoryFetcher(Protocol):
    """Reads one kind of camera list."""

    async def fetch(
        self, spec: InventorySettings, department: DepartmentConfig
    ) -> InventoryResult: ...


InventoryFactory = Callable[[InventoryContext], InventoryFetcher]
