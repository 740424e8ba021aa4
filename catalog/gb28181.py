"""Decoding 20-digit GB/T 28181 device ids (GB/T 28181-2016, Appendix D, rule A).

A GB/T 28181 id is 20 decimal digits::

    43020300 00 132 0 000001
    |        |  |   | serial (6)
    |        |  |   network (1)
    |        |  type (3)
    |        industry (2)
    centre: administrative division (8) = province(2) city(2) district(2) grassroots(2)

:func:`decode_gb_id` never raises: a string that is not exactly 20 ASCII
digits gives None, and a code the tables below do not name gives a name of
None (reserved and extension ranges included). Names are those of the
standard's tables, without the trailing "编码".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Final

__all__ = [
    "DIVISION_NAMES",
    "INDUSTRY_NAMES",
    "TYPE_NAMES",
    "GbId",
    "decode_gb_id",
    "division_name",
    "network_name",
]

_GB_ID = re.compile(r"[0-9]{20}")

#: GB/T 2260 codes camgrid can name: all 34 province-level divisions (2
#: digits), the cities of Hunan (4) and the districts and counties of
#: Zhuzhou (6).
DIVISION_NAMES: Final[dict[str, str]] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
    # Hunan
    "4301": "长沙市",
    "4302": "株洲市",
    "4303": "湘潭市",
    "4304": "衡阳市",
    "4305": "邵阳市",
    "4306": "岳阳市",
    "4307": "常德市",
    "4308": "张家界市",
    "4309": "益阳市",
    "4310": "郴州市",
    "4311": "永州市",
    "4312": "怀化市",
    "4313": "娄底市",
    "4331": "湘西土家族苗族自治州",
    # Zhuzhou
    "430202": "荷塘区",
    "430203": "芦淞区",
    "430204": "石峰区",
    "430211": "天元区",
    "430212": "渌口区",
    "430223": "攸县",
    "430224": "茶陵县",
    "430225": "炎陵县",
    "430281": "醴陵市",
}

#: Table D.2, industry codes (digits 9-10). 12-39, 56-79, 81-89 and 91-99
#: are reserved and have no name.
INDUSTRY_NAMES: Final[dict[str, str]] = {
    # 00-39: government bodies
    "00": "社会治安路面接入",
    "01": "社会治安社区接入",
    "02": "社会治安内部接入",
    "03": "社会治安其他接入",
    "04": "交通路面接入",
    "05": "交通卡口接入",
    "06": "交通内部接入",
    "07": "交通其他接入",
    "08": "城市管理接入",
    "09": "卫生环保接入",
    "10": "商检海关接入",
    "11": "教育部门接入",
    # 40-79: social resources (enterprises and institutions)
    "40": "农林牧渔业接入",
    "41": "采矿企业接入",
    "42": "制造企业接入",
    "43": "冶金企业接入",
    "44": "电力企业接入",
    "45": "燃气企业接入",
    "46": "建筑企业接入",
    "47": "物流企业接入",
    "48": "邮政企业接入",
    "49": "信息企业接入",
    "50": "住宿和餐饮业接入",
    "51": "金融企业接入",
    "52": "房地产业接入",
    "53": "商务服务业接入",
    "54": "水利企业接入",
    "55": "娱乐企业接入",
    # 80-89: residents; 90-99: other bodies
    "80": "居民自建",
    "90": "其他主体",
}

#: Table D.3, device and user type codes (digits 11-13). Extension ranges
#: (119-129, 139-198, 212-214, 217-299, 301-399, 401-499, 502-999) have no name.
TYPE_NAMES: Final[dict[str, str]] = {
    # 111-130: front-end main devices
    "111": "DVR",
    "112": "视频服务器",
    "113": "编码器",
    "114": "解码器",
    "115": "视频切换矩阵",
    "116": "音频切换矩阵",
    "117": "报警控制器",
    "118": "NVR",
    "130": "混合硬盘录像机",
    # 131-199: front-end peripherals
    "131": "摄像机",
    "132": "网络摄像机IPC",
    "133": "显示器",
    "134": "报警输入设备",
    "135": "报警输出设备",
    "136": "语音输入设备",
    "137": "语音输出设备",
    "138": "移动传输设备",
    "199": "其他外围设备",
    # 200-299: platform devices
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
    # 300-399 centre users, 400-499 terminal users
    "300": "中心用户",
    "400": "终端用户",
    # 500-599: servers attached to the platform
    "500": "视频图像信息综合应用平台信令服务器",
    "501": "视频图像信息运维管理平台信令服务器",
}

_CAMERA_TYPES: Final = frozenset({"131", "132"})


def network_name(digit: str) -> str | None:
    """Name of the network identifier (digit 14); 9 is reserved."""
    if digit in ("0", "1", "2", "3", "4"):
        return "监控报警专网"
    return {"5": "公安信息网", "6": "政务网", "7": "Internet网", "8": "社会资源接入网"}.get(digit)


def division_name(division: str) -> str | None:
    """The name of an 8-digit (or shorter) division code, as far as it is known.

    Joins the known levels from the province down, stopping at the first
    level that is unknown or zero-filled: ``43020300`` gives 湖南省株洲市芦淞区,
    ``43000000`` gives 湖南省, an unknown province gives None. The
    grassroots level (digits 7-8) is never named.
    """
    parts: list[str] = []
    for length in (2, 4, 6):
        code = division[:length]
        if len(code) < length or code.endswith("00"):
            break
        name = DIVISION_NAMES.get(code)
        if name is None:
            break
        parts.append(name)
    return "".join(parts) or None


@dataclass(frozen=True, slots=True)
class GbId:
    """The parts of a GB/T 28181 id; ``*_name`` is None for codes not named."""

    id: str
    division: str
    division_name: str | None
    industry: str
    industry_name: str | None
    type_code: str
    type_name: str | None
    network: str
    network_name: str | None
    serial: str
    is_camera: bool

    def as_dict(self) -> dict[str, str | bool | None]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def decode_gb_id(s: str) -> GbId | None:
    """Decode a GB/T 28181 id; None unless ``s`` is exactly 20 ASCII digits."""
    if not isinstance(s, str) or _GB_ID.fullmatch(s) is None:
        return None
    division, industry, type_code, network, serial = s[:8], s[8:10], s[10:13], s[13], s[14:]
    return GbId(
        id=s,
        division=division,
        division_name=division_name(division),
        industry=industry,
        industry_name=INDUSTRY_NAMES.get(industry),
        type_code=type_code,
        type_name=TYPE_NAMES.get(type_code),
        network=network,
        network_name=network_name(network),
        serial=serial,
        is_camera=type_code in _CAMERA_TYPES,
    )
