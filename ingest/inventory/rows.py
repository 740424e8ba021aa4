"""From one record of a department's camera list to an :class:`InventoryRow`, or a problem.

Every fetcher (spreadsheet row, JSON item) ends here, so a camera list is
judged the same way whatever its format. A record is rejected as a whole when
any of its mapped values is unusable, and each rejected record gives exactly one
:class:`RowProblem` naming its place and first bad column
(``点位表.csv:7 经度: 'abc' is not a number``; further bad columns follow in the
message). Tables find their header row by the ``id`` column (a title row above it
is common in exported 点位表) and match headers ignoring surrounding spaces,
full-width forms and Latin case.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from config import InventoryMapSettings
from config.fields import CAMERA_ID_RULE, check_camera_id, check_url
from ingest.inventory.base import InventoryError, InventoryResult, InventoryRow, RowProblem

FIELDS = ("id", "name", "lon", "lat", "address", "snapshot_url")
"""The attributes an inventory ``map`` may name, in the order problems are checked."""

HEADER_SEARCH_ROWS = 10
"""How many leading rows of a table may come before its header row."""

MAX_EXACT_INTEGER = 2**53  # a float id at or beyond this may have lost digits
_URL_KINDS = {"http": "http", "https": "http", "rtsp": "rtsp", "rtsps": "rtsp"}
_SHOWN = 40  # characters of a bad value quoted in a message


def mapped_fields(mapping: InventoryMapSettings) -> dict[str, str]:
    """``field -> column or key`` for every attribute the map names."""
    named = {name: getattr(mapping, name) for name in FIELDS}
    return {name: column for name, column in named.items() if column is not None}


def normalize_header(value: object) -> str:
    """A header cell as compared: NFKC (full-width forms folded), trimmed, case-folded."""
    text = "" if value is None else str(value)
    return unicodedata.normalize("NFKC", text).replace("\ufeff", "").strip().casefold()


def shown(value: object) -> str:
    """A value quoted in a message, shortened and printable."""
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return repr(text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…")


def cell_text(value: object) -> str:
    """A cell or JSON value as text: integral floats lose their ``.0``, None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return unicodedata.normalize("NFC", str(value)).strip()


def _id(value: object) -> str:
    if isinstance(value, float) and (not value.is_integer() or abs(value) >= MAX_EXACT_INTEGER):
        raise ValueError(
            f"{shown(value)} is stored as a number and may have lost digits; store ids as text"
        )
    text = cell_text(value)
    if not text:
        raise ValueError("empty id")
    try:
        return check_camera_id(text)
    except ValueError:
        raise ValueError(f"id {shown(text)} {CAMERA_ID_RULE}") from None


def _coordinate(value: object, limit: float, name: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip().rstrip("°")
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{shown(value)} is not a number") from None
    if not (math.isfinite(number) and -limit <= number <= limit):
        raise ValueError(f"{name} {shown(value)} should be between -{limit:g} and {limit:g}")
    return number


def _without_userinfo(url: str) -> str:
    """A URL fit to quote in a message: a password written into it is cut out."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "(a URL with credentials)"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def _snapshot(value: object) -> tuple[str | None, str | None]:
    text = cell_text(value)
    if not text:
        return None, None
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    kind = _URL_KINDS.get(scheme)
    if kind is None:
        raise ValueError(f"{shown(_without_userinfo(text))} is not an http(s) or rtsp(s) URL")
    check_url(text, tuple(s for s, k in _URL_KINDS.items() if k == kind))
    return text, kind


_PARSERS: dict[str, Callable[[object], Any]] = {
    "id": _id,
    "lon": lambda value: _coordinate(value, 180, "longitude"),
    "lat": lambda value: _coordinate(value, 90, "latitude"),
    "snapshot_url": _snapshot,
}


class RowCollector:
    """Builds the rows of one fetch, keeping one problem per rejected record.

    A record whose id was already seen in this inventory is rejected too: two
    rows cannot be one camera.
    """

    def __init__(self) -> None:
        self.rows: list[InventoryRow] = []
        self.problems: list[RowProblem] = []
        self._first_seen: dict[str, str] = {}

    def reject(self, place: str, message: str) -> None:
        """Record a problem with a whole record (no single column to blame)."""
        self.problems.append(RowProblem(place, message))

    def add(self, place: str, values: Mapping[str, object], columns: Mapping[str, str]) -> None:
        """One record: ``values`` and ``columns`` are keyed by field (``id``, ``lon``, …)."""
        bad: list[tuple[str, str]] = []
        parsed: dict[str, Any] = {}
        for name in FIELDS:
            if name not in columns:
                continue
            try:
                parsed[name] = _PARSERS.get(name, cell_text)(values.get(name))
            except ValueError as exc:
                bad.append((name, str(exc)))
        lon, lat = parsed.get("lon"), parsed.get("lat")
        if (lon is None) != (lat is None) and not {n for n, _ in bad} & {"lon", "lat"}:
            missing, given = ("lat", "lon") if lat is None else ("lon", "lat")
            bad.append((missing, f"empty while {columns[given]} is given; give both or neither"))
        if not bad:
            first = self._first_seen.setdefault(parsed["id"], place)
            if first != place:
                bad.append(("id", f"duplicate id {shown(parsed['id'])}, first at {first}"))
        if bad:
            bad.sort(key=lambda item: FIELDS.index(item[0]))
            (name, message), *more = bad
            extra = "".join(f"; {columns[n]}: {m}" for n, m in more)
            self.problems.append(RowProblem(f"{place} {columns[name]}", message + extra))
            return
        url, kind = parsed.get("snapshot_url", (None, None))
        self.rows.append(
            InventoryRow(
                id=parsed["id"],
                name=parsed.get("name", ""),
                address=parsed.get("address", ""),
                lon=lon,
                lat=lat,
                snapshot_url=url,
                snapshot_kind=kind,
            )
        )

    def result(self) -> InventoryResult:
        """The good rows and one problem per rejected record."""
        return InventoryResult(rows=self.rows, problems=self.problems)


def _find_header(
    records: Iterable[tuple[int, Sequence[object]]], id_column: str, label: str
) -> tuple[int, Sequence[object]]:
    wanted = normalize_header(id_column)
    first: Sequence[object] | None = None
    for count, (number, cells) in enumerate(records):
        if count >= HEADER_SEARCH_ROWS:
            break
        if wanted in (normalize_header(cell) for cell in cells):
            return number, cells
        if first is None and any(cell_text(cell) for cell in cells):
            first = cells
    seen = ", ".join(cell_text(c) for c in first or () if cell_text(c)) or "nothing"
    raise InventoryError(
        f"{label}: no header row with the id column '{id_column}' in the first "
        f"{HEADER_SEARCH_ROWS} rows (first row: {seen})"
    )


def map_table(
    records: Iterable[tuple[int, Sequence[object]]],
    mapping: InventoryMapSettings,
    label: str,
) -> InventoryResult:
    """Rows of a table: ``(row number, cells)`` records, the header among the first ones.

    Places read ``LABEL:ROW``. A mapped column missing from the header fails the
    whole fetch (every row would lose that attribute), naming all such columns once.
    Empty rows are skipped.
    """
    columns = mapped_fields(mapping)
    iterator = iter(records)
    header_row, header = _find_header(iterator, mapping.id, label)
    index: dict[str, int] = {}
    for position, cell in enumerate(header):
        index.setdefault(normalize_header(cell), position)
    missing = [c for c in columns.values() if normalize_header(c) not in index]
    if missing:
        names = ", ".join(f"'{c}'" for c in missing)
        found = ", ".join(cell_text(cell) for cell in header if cell_text(cell))
        raise InventoryError(
            f"{label}:{header_row} header: mapped column(s) {names} not found (columns: {found})"
        )
    positions = {name: index[normalize_header(column)] for name, column in columns.items()}
    collector = RowCollector()
    for number, cells in iterator:
        if not any(cell_text(cell) for cell in cells):
            continue
        values = {
            name: cells[position] if position < len(cells) else None
            for name, position in positions.items()
        }
        collector.add(f"{label}:{number}", values, columns)
    return collector.result()
