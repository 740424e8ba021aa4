"""``xlsx`` inventories: an Excel workbook, the named sheet or else the first one.

Read through openpyxl in read-only mode with cached formula values, so a
workbook of tens of thousands of rows streams instead of loading whole. The
same ``map`` and header rules as ``csv`` apply (:mod:`ingest.inventory.rows`);
row numbers are Excel's. An id typed as a long number (Excel keeps only 15
significant digits) is rejected instead of imported with lost digits.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from config import DepartmentConfig, InventoryMapSettings, InventorySettings, XlsxInventorySettings
from ingest.inventory.base import InventoryContext, InventoryError, InventoryResult
from ingest.inventory.rows import map_table


def _open(path: Path) -> Any:
    label = path.name
    if not path.exists():
        raise InventoryError(f"{label}: file not found ({path})")
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except InvalidFileException:
        raise InventoryError(
            f"{label}: not an .xlsx workbook (an old .xls? save it as .xlsx)"
        ) from None
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError):
        raise InventoryError(f"{label}: not a readable .xlsx workbook") from None
    except OSError as exc:
        raise InventoryError(f"{label}: cannot read ({exc.strerror or exc})") from None


def _records(sheet: Any) -> Iterator[tuple[int, Sequence[object]]]:
    # The declared dimensions of a sheet are often wrong in exported files;
    # without them the whole sheet is read. Missing rows come back empty.
    sheet.reset_dimensions()
    yield from enumerate(sheet.iter_rows(values_only=True), start=1)


def read_xlsx_inventory(
    path: Path, mapping: InventoryMapSettings, sheet: str | None = None
) -> InventoryResult:
    """Read one workbook inventory (blocking); places read ``FILE:ROW``."""
    label = path.name
    workbook = _open(path)
    try:
        if sheet is None:
            if not workbook.worksheets:
                raise InventoryError(f"{label}: the workbook has no sheets")
            chosen = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            chosen = workbook[sheet]
        else:
            names = ", ".join(workbook.sheetnames)
            raise InventoryError(f"{label}: no sheet '{sheet}' (sheets: {names})")
        try:
            return map_table(_records(chosen), mapping, label)
        except (zipfile.BadZipFile, KeyError, ValueError, EOFError):
            raise InventoryError(f"{label}: sheet '{chosen.title}' is not readable") from None
    finally:
        workbook.close()


class XlsxFetcher:
    """Fetches ``xlsx`` inventories in the context's executor."""

    def __init__(self, ctx: InventoryContext) -> None:
        self._executor = ctx.executor

    async def fetch(self, spec: InventorySettings, department: DepartmentConfig) -> InventoryResult:
        """Read the workbook named by ``spec`` (already absolute in a loaded config)."""
        if not isinstance(spec, XlsxInventorySettings):
            raise TypeError(f"XlsxFetcher cannot read a {spec.kind} inventory")
        path = spec.path if spec.path.is_absolute() else department.file.parent / spec.path
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, read_xlsx_inventory, path, spec.map, spec.sheet
        )
