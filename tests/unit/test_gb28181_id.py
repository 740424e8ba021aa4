"""Decoding 20-digit GB/T 28181 ids: fields, names, and never raising."""

from __future__ import annotations

import dataclasses
import json
import random
from typing import Any

import pytest

from catalog.gb28181 import DIVISION_NAMES, GbId, decode_gb_id, division_name


def test_a_zhuzhou_ipc() -> None:
    gb = decode_gb_id("43020300001320000001")
    assert gb == GbId(
        id="43020300001320000001",
        division="43020300",
        division_name="湖南省株洲市芦淞区",
        industry="00",
        industry_name="社会治安路面接入",
        type_code="132",
        type_name="网络摄像机IPC",
        network="0",
        network_name="监控报警专网",
        serial="000001",
        is_camera=True,
    )


def test_as_dict_is_json_ready() -> None:
    gb = decode_gb_id("43020408131311234567")
    assert gb is not None
    data: dict[str, Any] = json.loads(json.dumps(gb.as_dict(), ensure_ascii=False))
    assert data == {
        "id": "43020408131311234567",
        "division": "43020408",
        "division_name": "湖南省株洲市石峰区",
        "industry": "13",
        "industry_name": None,
        "type_code": "131",
        "type_name": "摄像机",
        "network": "1",
        "network_name": "监控报警专网",
        "serial": "234567",
        "is_camera": True,
    }


def test_is_frozen() -> None:
    gb = decode_gb_id("43020300001320000001")
    assert gb is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        gb.serial = "1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("division", "name"),
    [
        ("43020200", "湖南省株洲市荷塘区"),
        ("43020300", "湖南省株洲市芦淞区"),
        ("43020400", "湖南省株洲市石峰区"),
        ("43021100", "湖南省株洲市天元区"),
        ("43021201", "湖南省株洲市渌口区"),
        ("43020000", "湖南省株洲市"),
        ("43000000", "湖南省"),
        ("43990000", "湖南省"),  # unknown city: the known part
        ("43029900", "湖南省株洲市"),
        ("11000000", "北京市"),
        ("81000000", "香港特别行政区"),
        ("99000000", None),
        ("00000000", None),
        ("43", "湖南省"),
    ],
)
def test_division_names(division: str, name: str | None) -> None:
    assert division_name(division) == name
    if len(division) == 8:
        gb = decode_gb_id(division + "001320000001")
        assert gb is not None
        assert gb.division_name == name


def test_all_34_province_level_divisions_are_named() -> None:
    provinces = {code: name for code, name in DIVISION_NAMES.items() if len(code) == 2}
    assert len(provinces) == 34
    assert len(set(provinces.values())) == 34
    assert provinces["43"] == "湖南省"
    assert DIVISION_NAMES["4302"] == "株洲市"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("00", "社会治安路面接入"),
        ("01", "社会治安社区接入"),
        ("02", "社会治安内部接入"),
        ("03", "社会治安其他接入"),
        ("04", "交通路面接入"),
        ("05", "交通卡口接入"),
        ("06", "交通内部接入"),
        ("07", "交通其他接入"),
        ("08", "城市管理接入"),
        ("09", "卫生环保接入"),
        ("10", "商检海关接入"),
        ("11", "教育部门接入"),
        ("12", None),
        ("39", None),
        ("40", "农林牧渔业接入"),
        ("44", "电力企业接入"),
        ("54", "水利企业接入"),
        ("55", "娱乐企业接入"),
        ("56", None),
        ("79", None),
        ("80", "居民自建"),
        ("90", "其他主体"),
        ("99", None),
    ],
)
def test_industry_names(code: str, name: str | None) -> None:
    gb = decode_gb_id(f"43020300{code}1320000001")
    assert gb is not None
    assert (gb.industry, gb.industry_name) == (code, name)


TYPES = {
    "111": "DVR",
    "112": "视频服务器",
    "113": "编码器",
    "114": "解码器",
    "115": "视频切换矩阵",
    "116": "音频切换矩阵",
    "117": "报警控制器",
    "118": "NVR",
    "130": "混合硬盘录像机",
    "131": "摄像机",
    "132": "网络摄像机IPC",
    "133": "显示器",
    "134": "报警输入设备",
    "135": "报警输出设备",
    "136": "语音输入设备",
    "137": "语音输出设备",
    "138": "移动传输设备",
    "199": "其他外围设备",
    "200": "中心信令控制服务器",
    "201": "Web应用服务器",
    "202": "媒体分发服务器",
    "203": "代理服务器",
    "204": "安全服务器",
    "205": "报警服务器",
    "206": "数据库服务器",
    "207": "GIS服务器",
    "208": "管理服务器",
    "209": "接入网关",
    "210": "媒体存储服务器",
    "211": "信令安全路由网关",
    "215": "业务分组",
    "216": "虚拟组织",
}


@pytest.mark.parametrize(("code", "name"), sorted(TYPES.items()))
def test_type_names(code: str, name: str) -> None:
    gb = decode_gb_id(f"4302030000{code}0000001")
    assert gb is not None
    assert (gb.type_code, gb.type_name) == (code, name)
    assert gb.is_camera == (code in ("131", "132"))


@pytest.mark.parametrize("code", ["000", "119", "139", "212", "299", "999"])
def test_unknown_type_codes_have_no_name(code: str) -> None:
    gb = decode_gb_id(f"4302030000{code}0000001")
    assert gb is not None
    assert gb.type_name is None
    assert not gb.is_camera


@pytest.mark.parametrize(
    ("digit", "name"),
    [
        ("0", "监控报警专网"),
        ("4", "监控报警专网"),
        ("5", "公安信息网"),
        ("6", "政务网"),
        ("7", "Internet网"),
        ("8", "社会资源接入网"),
        ("9", None),
    ],
)
def test_network_names(digit: str, name: str | None) -> None:
    gb = decode_gb_id(f"4302030000132{digit}000001")
    assert gb is not None
    assert (gb.network, gb.network_name) == (digit, name)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4302030000132000000",  # 19
        "430203000013200000011",  # 21
        "4302030000132000000a",
        " 43020300001320000001",
        "43020300001320000001\n",
        "４３０２０３００００１３２００００００１",  # full-width digits
        "٤٣٠٢٠٣٠٠٠٠١٣٢٠٠٠٠٠٠١",  # Arabic-Indic digits
        "4302030000132000000-",
    ],
)
def test_not_a_gb_id(text: str) -> None:
    assert decode_gb_id(text) is None


@pytest.mark.parametrize("value", [None, 43020300001320000001, b"43020300001320000001"])
def test_non_strings_are_not_ids(value: object) -> None:
    assert decode_gb_id(value) is None  # type: ignore[arg-type]


def test_never_raises_on_any_20_digits() -> None:
    rng = random.Random(28181)
    for _ in range(5000):
        text = "".join(rng.choice("0123456789") for _ in range(20))
        gb = decode_gb_id(text)
        assert gb is not None
        assert gb.division + gb.industry + gb.type_code + gb.network + gb.serial == text
