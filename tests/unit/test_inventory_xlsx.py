"""``xlsx`` inventories: a workbook made with openpyxl, the named or the first sheet."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from config import InventoryMapSettings
from ingest.inventory import InventoryError, read_xlsx_inventory

MAP = InventoryMapSettings(id="编号", name="名称", lon="经度", lat="纬度", address="地址")
HEADER: list[object] = ["编号", "名称", "经度", "纬度", "地址"]


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_the_first_sheet_with_numbers_text_and_a_title_row(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["芦淞区视频监控点位表"],
        HEADER,
        ["lk-001", "建设路与红旗路交叉口", 113.1523, 27.8301, "芦淞区建设路"],
        [1002, "红港小区北门", "113.1688", "27.8322", None],  # an id typed as a number
        [],
        ["lk-005", "东门", "abc", 27.8, ""],  # row 6
        [43020300001320000001, "国标编号", 113.1, 27.8, ""],  # row 7: digits lost in Excel
    ]
    path = workbook(tmp_path / "点位表.xlsx", {"点位": rows, "其他": [["x"]]})
    result = read_xlsx_inventory(path, MAP)
    assert [(r.id, r.name, r.lon, r.lat) for r in result.rows] == [
        ("lk-001", "建设路与红旗路交叉口", 113.1523, 27.8301),
        ("1002", "红港小区北门", 113.1688, 27.8322),
    ]
    assert result.rows[1].address == ""
    assert [str(p) for p in result.problems] == [
        "点位表.xlsx:6 经度: 'abc' is not a number",
        "点位表.xlsx:7 编号: '4.302030000132e+19' is stored as a number and may have lost "
        "digits; store ids as text",
    ]


def test_a_named_sheet(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "a.xlsx",
        {"说明": [["本表说明"]], "摄像机": [HEADER, ["c-1", "西门", 113.2, 27.9, "x"]]},
    )
    (row,) = read_xlsx_inventory(path, MAP, sheet="摄像机").rows
    assert (row.id, row.name) == ("c-1", "西门")
    with pytest.raises(InventoryError, match=r"a\.xlsx: no sheet '点位' \(sheets: 说明, 摄像机\)"):
        read_xlsx_inventory(path, MAP, sheet="点位")


def test_a_missing_column_and_files_that_are_no_workbook(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"s": [["编号", "名称"], ["c-1", "x"]]})
    with pytest.raises(
        InventoryError, match=r"a\.xlsx:1 header: mapped column\(s\) '经度', '纬度'"
    ):
        read_xlsx_inventory(path, MAP)
    text = tmp_path / "b.xlsx"
    text.write_text("编号,名称\n", encoding="utf-8")
    with pytest.raises(InventoryError, match=r"b\.xlsx: not a"):
        read_xlsx_inventory(text, MAP)
    with pytest.raises(InventoryError, match=r"c\.xlsx: file not found"):
        read_xlsx_inventory(tmp_path / "c.xlsx", MAP)
