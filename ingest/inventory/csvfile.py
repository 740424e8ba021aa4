"""``csv`` inventories: the spreadsheet export a department already keeps (点位表.csv).

Columns are found by their header (Chinese headers as written, see
:mod:`ingest.inventory.rows`). Unless the inventory names an ``encoding``, it is
detected: a UTF-8 or UTF-16 byte-order mark; else UTF-8 if the bytes are valid
UTF-8; else GB18030, the superset of GBK that Excel writes on a Chinese Windows.
The delimiter is the first of ``, TAB ; |`` that splits the header row into a
row holding the ``id`` column. Reading and parsing run off the event loop.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from config import CsvInventorySettings, DepartmentConfig, InventoryMapSettings, InventorySettings
from ingest.inventory.base import InventoryContext, InventoryError, InventoryResult
from ingest.inventory.rows import HEADER_SEARCH_ROWS, map_table, normalize_header

MAX_FILE_BYTES = 64 << 20
DELIMITERS = (",", "\t", ";", "|")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_capped(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of an inventory file; :class:`InventoryError` naming the file otherwise."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InventoryError(f"{path.name}: file not found ({path})") from None
    except IsADirectoryError:
        raise InventoryError(f"{path.name}: is a folder, not a file ({path})") from None
    except OSError as exc:
        raise InventoryError(f"{path.name}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise InventoryError(f"{path.name}: larger than {max_bytes >> 20} MiB")
    return data


def decode_text(data: bytes, encoding: str | None = None, label: str = "file") -> tuple[str, str]:
    """``(text, encoding used)``: the given encoding, else a BOM, UTF-8, or GB18030."""
    if encoding is not None:
        if codecs.lookup(encoding).name == "utf-8":
            encoding = "utf-8-sig"  # a BOM is not part of the first header
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise InventoryError(f"{label}: not {encoding} text (byte {exc.start})") from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise InventoryError(f"{label}: not {name} text (byte {exc.start})") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_at = exc.start
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise InventoryError(
            f"{label}: neither UTF-8 (bad byte {utf8_at}) nor GB18030 (bad byte {exc.start}) "
            "text; name its encoding in the inventory"
        ) from None


def sniff_delimiter(text: str, id_column: str) -> str:
    """The delimiter whose split puts ``id_column`` in one of the first header rows."""
    head = "\n".join(text.splitlines()[:HEADER_SEARCH_ROWS])
    wanted = normalize_header(id_column)
    for delimiter in DELIMITERS:
        for cells in csv.reader(io.StringIO(head, newline=""), delimiter=delimiter):
            if wanted in (normalize_header(cell) for cell in cells):
                return delimiter
    return ","


def _records(text: str, delimiter: str, label: str) -> Iterator[tuple[int, Sequence[object]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise InventoryError(
            f"{label}: unreadable CSV near line {reader.line_num} ({exc})"
        ) from None


def parse_csv_text(text: str, mapping: InventoryMapSettings, label: str) -> InventoryResult:
    """The rows of decoded CSV text; places read ``LABEL:ROW`` (row 1 is the first record)."""
    delimiter = sniff_delimiter(text, mapping.id)
    return map_table(_records(text, delimiter, label), mapping, label)


def read_csv_inventory(
    path: Path,
    mapping: InventoryMapSettings,
    encoding: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> InventoryResult:
    """Read, decode and parse one CSV inventory file (blocking)."""
    label = path.name
    text, _ = decode_text(read_capped(path, max_bytes), encoding, label)
    return parse_csv_text(text, mapping, label)


class CsvFetcher:
    """Fetches ``csv`` inventories in the context's executor."""

    def __init__(self, ctx: InventoryContext, *, max_bytes: int = MAX_FILE_BYTES) -> None:
        self._executor = ctx.executor
        self._max_bytes = max_bytes

    async def fetch(self, spec: InventorySettings, department: DepartmentConfig) -> InventoryResult:
        """Read the file named by ``spec`` (already absolute in a loaded config)."""
        if not isinstance(spec, CsvInventorySettings):
            raise TypeError(f"CsvFetcher cannot read a {spec.kind} inventory")
        path = spec.path if spec.path.is_absolute() else department.file.parent / spec.path
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, read_csv_inventory, path, spec.map, spec.encoding, self._max_bytes
        )
