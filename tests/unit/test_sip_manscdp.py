"""MANSCDP bodies: charsets, Keepalive, Catalog answers, notifications (ingest.gb28181.manscdp)."""

from __future__ import annotations

import pytest

from ingest.gb28181.manscdp import (
    CatalogItem,
    ManscdpError,
    catalog_query,
    decode_body,
    parse_manscdp,
)

CATALOG = """<?xml version="1.0" encoding="{encoding}"?>
<Response>
<CmdType>Catalog</CmdType>
<SN>17430</SN>
<DeviceID>43020300002000000002</DeviceID>
<SumNum>120</SumNum>
<DeviceList Num="2">
<Item>
<DeviceID>43020300001320000001</DeviceID>
<Name>建设路与红旗路交叉口 &amp; 东</Name>
<Manufacturer>海康威视</Manufacturer>
<Model>DS-2CD3T45</Model>
<Owner>芦淞分局</Owner>
<CivilCode>430203</CivilCode>
<Address>芦淞区建设路</Address>
<Parental>0</Parental>
<ParentID>43020300002160000001</ParentID>
<SafetyWay>0</SafetyWay>
<RegisterWay>1</RegisterWay>
<Secrecy>0</Secrecy>
<Status>ON</Status>
<Longitude>113.1523</Longitude>
<Latitude>27.8301</Latitude>
<Info><PTZType>1</PTZType></Info>
</Item>
<Item>
<DeviceID>43020300002160000001</DeviceID>
<Name>芦淞区治安卡口</Name>
<Parental>1</Parental>
<BusinessGroupID>43020300002150000001</BusinessGroupID>
<Longitude>0</Longitude>
<Latitude>0.0</Latitude>
</Item>
</DeviceList>
</Response>
"""


@pytest.mark.parametrize("encoding", ["GB2312", "gbk", "GB18030", "UTF-8"])
def test_a_catalog_answer_in_each_declared_charset(encoding: str) -> None:
    codec = "gb18030" if encoding.lower().startswith("gb") else "utf-8"
    message = parse_manscdp(CATALOG.format(encoding=encoding).encode(codec))
    assert (message.root, message.cmd_type, message.sn) == ("Response", "Catalog", 17430)
    assert message.device_id == "43020300002000000002"
    assert message.sum_num == 120
    camera, group = message.items
    assert camera == CatalogItem(
        device_id="43020300001320000001",
        name="建设路与红旗路交叉口 & 东",
        manufacturer="海康威视",
        model="DS-2CD3T45",
        owner="芦淞分局",
        civil_code="430203",
        address="芦淞区建设路",
        parental=False,
        parent_id="43020300002160000001",
        status="ON",
        longitude=113.1523,
        latitude=27.8301,
        ptz_type="1",
    )
    assert camera.online is True
    assert group.parental
    assert group.business_group_id == "43020300002150000001"
    assert (group.longitude, group.latitude) == (None, None)  # 0 means not surveyed


def test_characters_beyond_gb2312_survive_a_gb2312_declaration() -> None:
    body = CATALOG.format(encoding="GB2312").replace("建设路", "䶮𠀀路").encode("gb18030")
    assert parse_manscdp(body).items[0].name.startswith("䶮𠀀路")


def test_mislabelled_charsets_are_read_anyway() -> None:
    as_utf8 = CATALOG.format(encoding="GB2312").encode("utf-8")
    assert parse_manscdp(as_utf8).items[0].owner == "芦淞分局"
    as_gbk = CATALOG.format(encoding="UTF-8").encode("gbk")
    assert parse_manscdp(as_gbk).items[0].owner == "芦淞分局"
    undeclared_gbk = CATALOG.replace('<?xml version="1.0" encoding="{encoding}"?>', "").encode(
        "gbk"
    )
    assert parse_manscdp(undeclared_gbk).items[0].owner == "芦淞分局"
    with_bom = b"\xef\xbb\xbf" + CATALOG.format(encoding="GB2312").encode("utf-8")
    assert decode_body(with_bom).startswith("<?xml")


def test_keepalive_and_notify_with_bare_ampersands_and_odd_case() -> None:
    keepalive = parse_manscdp(
        b"<?xml version='1.0'?><Notify><cmdtype>Keepalive</cmdtype><SN>7</SN>"
        b"<DeviceID>43020300002000000002</DeviceID><Status>OK</Status></Notify>"
    )
    assert (keepalive.cmd_type, keepalive.sn, keepalive.status) == ("Keepalive", 7, "OK")
    notify = parse_manscdp(
        "<Notify><CmdType>Catalog</CmdType><SN>9</SN><DeviceID>43020300002000000002</DeviceID>"
        "<DeviceList Num='2'><Item><DeviceID>43020300001320000009</DeviceID><Event>add</Event>"
        "<Name>R&D 楼</Name><Status>ONLINE</Status><SnapShotURL>http://10.0.0.9/snap.jpg</SnapShotURL>"
        "</Item><Item><Event>DEL</Event></Item></DeviceList></Notify>".encode()
    )
    assert notify.sum_num == 1  # not given: the items that came
    (item,) = notify.items
    assert (item.event, item.name, item.online) == ("ADD", "R&D 楼", True)
    assert item.snapshot_url == "http://10.0.0.9/snap.jpg"
    assert notify.problems == ("item 2: an Item without DeviceID",)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<Notify><CmdType>Keepalive</CmdType>", "malformed XML at line 1"),
        (b"<Notify><SN>1</SN></Notify>", "<Notify> without CmdType"),
        (b"<Notify><CmdType>Keepalive</CmdType><SN>x1</SN></Notify>", "SN 'x1' is not a number"),
        (b"<Notify><CmdType>Keepalive</CmdType></Notify>", "Keepalive without SN"),
        (
            b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceList/></Response>",
            "Catalog Response without SumNum",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Notify>&a;</Notify>',
            "DTDs and entity declarations are not accepted",
        ),
        (b'<?xml version="1.0" encoding="klingon"?><a/>', "unknown encoding 'klingon'"),
        (b'<?xml version="1.0" encoding="ascii"?><a>\xff\xff</a>', "body is not ascii text"),
    ],
)
def test_malformed_bodies_give_clear_errors(body: bytes, message: str) -> None:
    with pytest.raises(ManscdpError, match=message.replace("(", r"\(")):
        parse_manscdp(body)


def test_the_catalog_query_is_gb2312_and_parses_back() -> None:
    body = catalog_query(17, "43020300002000000002")
    assert body.startswith(b'<?xml version="1.0" encoding="GB2312"?>')
    query = parse_manscdp(body)
    assert (query.root, query.cmd_type, query.sn, query.device_id) == (
        "Query",
        "Catalog",
        17,
        "43020300002000000002",
    )
