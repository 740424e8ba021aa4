"""``csv`` inventories: encodings detected, columns found by Chinese headers, bad rows named.

Also what ``camgrid validate`` prints for them.
"""

from __future__ import annotations

import argparse
import codecs
from pathlib import Path

import pytest
import yaml

from camgrid.cli import cmd_validate
from config import CsvInventorySettings, DepartmentConfig, InventoryMapSettings, load_config
from ingest.inventory import CsvFetcher, InventoryContext, InventoryError, read_csv_inventory
from ingest.inventory.csvfile import decode_text, sniff_delimiter
from ingest.inventory.sync import cameras_from_result

MAP = InventoryMapSettings(
    id="编号", name="名称", lon="经度", lat="纬度", address="地址", snapshot_url="抓图地址"
)
HEADER = "编号,名称,经度,纬度,地址,抓图地址"
GOOD = [
    "lk-001,建设路与红旗路交叉口,113.1523,27.8301,芦淞区建设路,http://10.1.0.1/snap.jpg",
    "lk-002,董家塅𠮷祥花园东门,113.1460,27.8010,芦淞区董家塅街道,",
]


def write(path: Path, lines: list[str], encoding: str) -> Path:
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")],
)
def test_encodings_are_detected_and_names_stay_intact(
    tmp_path: Path, encoding: str, detected: str
) -> None:
    path = write(tmp_path / "点位表.csv", [HEADER, *GOOD], encoding)
    assert decode_text(path.read_bytes())[1] == detected
    result = read_csv_inventory(path, MAP)
    assert result.problems == []
    first, second = result.rows
    assert (first.id, first.name) == ("lk-001", "建设路与红旗路交叉口")
    assert first.address == "芦淞区建设路"
    assert (first.lon, first.lat) == (113.1523, 27.8301)
    assert (first.snapshot_url, first.snapshot_kind) == ("http://10.1.0.1/snap.jpg", "http")
    assert second.name == "董家塅𠮷祥花园东门"
    assert second.snapshot_url is None


def test_gbk_as_excel_writes_it_on_a_chinese_windows(tmp_path: Path) -> None:
    lines = [HEADER, "yf-1,远大小区南门,113.1572,27.8183,芦淞区建设南路,"]
    path = write(tmp_path / "点位表.csv", lines, "gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    (row,) = read_csv_inventory(path, MAP).rows
    assert (row.name, row.address) == ("远大小区南门", "芦淞区建设南路")


def test_utf16_with_a_bom_and_tabs_as_excel_unicode_text(tmp_path: Path) -> None:
    lines = [HEADER.replace(",", "\t"), GOOD[0].replace(",", "\t")]
    path = tmp_path / "点位表.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "\r\n".join(lines).encode("utf-16-le"))
    (row,) = read_csv_inventory(path, MAP).rows
    assert row.name == "建设路与红旗路交叉口"


def test_a_named_encoding_wins_and_a_wrong_one_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "点位表.csv", [HEADER, *GOOD[:1]], "gb18030")
    assert read_csv_inventory(path, MAP, encoding="gbk").rows[0].name == "建设路与红旗路交叉口"
    with pytest.raises(InventoryError, match=r"点位表\.csv: not utf-8-sig text \(byte \d+\)"):
        read_csv_inventory(path, MAP, encoding="utf-8")


def test_bytes_that_are_no_known_text_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "点位表.csv"
    path.write_bytes(HEADER.encode() + b"\n\x81\x20\xff\xfe,x\n")
    with pytest.raises(InventoryError, match=r"neither UTF-8 .* nor GB18030 .*name its encoding"):
        read_csv_inventory(path, MAP)


def test_bad_rows_are_named_by_row_and_column_and_good_rows_still_import(tmp_path: Path) -> None:
    lines = [
        HEADER,
        GOOD[0],  # row 2
        "lk-003,东门,abc,27.8,,",  # row 3: longitude not a number
        ",无编号,113.1,27.8,,",  # row 4: empty id
        "lk-005,北门,113.1,95,,",  # row 5: latitude out of range
        "lk-006,西门,113.1,,,",  # row 6: latitude missing while longitude given
        "lk-007,南门,113.1,27.8,,ftp://10.1.0.7/a.jpg",  # row 7: bad URL
        "lk-001,重复,113.1,27.8,,",  # row 8: duplicate id
        "lk 009,空格,１１３．１,27.8,,",  # row 9: bad id; full-width longitude is fine
        ",,,,,",  # row 10: empty, skipped
        "lk-011,两处错误,x,y,,",  # row 11: two bad columns, one problem
        "lk-012,密码,113.1,27.8,,ftp://admin:S3cret@10.1.0.12/a.jpg",  # row 12: no password shown
        GOOD[1],  # row 13
        "lk-014,带密码,113.1,27.8,,http://admin:S3cret@10.1.0.14/a.jpg",  # row 14
    ]
    result = read_csv_inventory(write(tmp_path / "点位表.csv", lines, "gb18030"), MAP)
    assert [row.id for row in result.rows] == ["lk-001", "lk-002"]
    problems = {p.where: p.message for p in result.problems}
    assert problems == {
        "点位表.csv:3 经度": "'abc' is not a number",
        "点位表.csv:4 编号": "empty id",
        "点位表.csv:5 纬度": "latitude '95' should be between -90 and 90",
        "点位表.csv:6 纬度": "empty while 经度 is given; give both or neither",
        "点位表.csv:7 抓图地址": "'ftp://10.1.0.7/a.jpg' is not an http(s) or rtsp(s) URL",
        "点位表.csv:8 编号": "duplicate id 'lk-001', first at 点位表.csv:2",
        "点位表.csv:9 编号": "id 'lk 009' should be 1 to 64 letters, digits, '_' or '-'",
        "点位表.csv:11 经度": "'x' is not a number; 纬度: 'y' is not a number",
        "点位表.csv:12 抓图地址": "'ftp://10.1.0.12/a.jpg' is not an http(s) or rtsp(s) URL",
        "点位表.csv:14 抓图地址": "a user name or password in the URL is not allowed; use auth",
    }
    assert all("S3cret" not in str(problem) for problem in result.problems)
    assert str(result.problems[0]) == "点位表.csv:3 经度: 'abc' is not a number"


def test_a_missing_mapped_column_is_reported_once(tmp_path: Path) -> None:
    lines = ["编号,名称,经度,地址", "a1,东门,113.1,x", "a2,西门,113.2,y"]
    path = write(tmp_path / "点位表.csv", lines, "utf-8")
    with pytest.raises(InventoryError) as caught:
        read_csv_inventory(path, MAP)
    reason = caught.value.reason
    assert reason.startswith("点位表.csv:1 header: mapped column(s) '纬度', '抓图地址' not found")
    assert reason.count("纬度") == 1
    assert "columns: 编号, 名称, 经度, 地址" in reason


def test_the_header_may_sit_below_a_title_and_differ_in_spaces_and_case(tmp_path: Path) -> None:
    mapping = InventoryMapSettings(id="Camera ID", name="名称", lon="经度", lat="纬度")
    lines = [
        "芦淞区视频监控点位表（2024年）,,,",
        ",,,",
        " camera id ,名称 ,经度,纬度",
        "c-1,东门,113.1,27.8",
    ]
    result = read_csv_inventory(write(tmp_path / "a.csv", lines, "utf-8-sig"), mapping)
    assert [(r.id, r.name) for r in result.rows] == [("c-1", "东门")]


def test_no_header_row_names_the_id_column_and_what_was_there(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", ["序号,名字", "1,东门"], "utf-8")
    pattern = r"a\.csv: no header row with the id column '编号'.*\(first row: 序号, 名字\)"
    with pytest.raises(InventoryError, match=pattern):
        read_csv_inventory(path, MAP)


def test_delimiters_are_sniffed_from_the_header() -> None:
    assert sniff_delimiter("编号;名称\n1;a\n", "编号") == ";"
    assert sniff_delimiter("编号\t名称\n", "编号") == "\t"
    assert sniff_delimiter("名称,编号\n", "编号") == ","


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"^点位表\.csv: file not found"):
        read_csv_inventory(tmp_path / "点位表.csv", MAP)


def write_department(root: Path, csv_lines: list[str], encoding: str) -> DepartmentConfig:
    (root / "departments").mkdir(parents=True)
    write(root / "departments" / "点位表.csv", csv_lines, encoding)
    document = {
        "department": {"id": "residential", "name": "住宅小区"},
        "defaults": {"crs": "gcj02", "interval": "10m"},
        "inventories": [
            {
                "kind": "csv",
                "path": "点位表.csv",
                "every": "1h",
                "map": MAP.model_dump(exclude_none=True),
            }
        ],
    }
    (root / "departments" / "residential.yaml").write_text(
        yaml.safe_dump(document, allow_unicode=True), encoding="utf-8"
    )
    (department,) = load_config(root).departments
    return department


async def test_the_fetcher_reads_the_file_beside_the_department_file(tmp_path: Path) -> None:
    department = write_department(tmp_path / "cfg", [HEADER, *GOOD], "gb18030")
    spec = department.inventories[0]
    assert isinstance(spec, CsvInventorySettings)
    fetcher = CsvFetcher(InventoryContext(session=None))  # type: ignore[arg-type]
    result = await fetcher.fetch(spec, department)
    cameras, problems = cameras_from_result(department, result, "点位表.csv")
    assert problems == []
    assert [c.uid for c in cameras] == ["residential:lk-001", "residential:lk-002"]
    first = cameras[0]
    assert (first.crs, first.interval_s, first.snapshot_kind) == ("gcj02", 600, "http")
    assert cameras[1].snapshot_kind == "none"


def test_validate_shows_what_each_inventory_brings_and_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [HEADER, *GOOD, "lk-003,东门,abc,27.8,,", ",无编号,113.1,27.8,,"]
    write_department(tmp_path / "cfg", lines, "gb18030")
    assert cmd_validate(argparse.Namespace(config=tmp_path / "cfg")) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  inventories[0] csv 点位表.csv: would bring 2 cameras, reject 2" in out
    assert "    点位表.csv:4 经度: 'abc' is not a number" in out
    assert "    点位表.csv:5 编号: empty id" in out
    assert any(line.startswith("note: 2 inventory row(s) would be rejected") for line in out)


def test_validate_exits_1_when_an_inventory_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_department(tmp_path / "cfg", ["序号,名字", "1,东门"], "utf-8")
    assert cmd_validate(argparse.Namespace(config=tmp_path / "cfg")) == 1
    captured = capsys.readouterr()
    assert (
        "  inventories[0] csv 点位表.csv: cannot be read: 点位表.csv: no header row with the "
        "id column '编号'" in captured.out
    )
    assert "1 inventory(ies) cannot be read" in captured.err
