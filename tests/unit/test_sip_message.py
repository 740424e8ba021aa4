"""SIP message parsing, framing and building (ingest.gb28181.sip and .headers)."""

from __future__ import annotations

import pytest

from ingest.gb28181.headers import CSeq, Headers, NameAddr, SipUri, Via, split_commas
from ingest.gb28181.sip import (
    SipParseError,
    SipRequest,
    SipResponse,
    StreamFramer,
    make_response,
    parse_message,
)

# As an IP camera of a well-known brand sends it (bare numbers as Call-ID and tags).
CAMERA_REGISTER = (
    b"REGISTER sip:43020300002000000001@4302030000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1371463273\r\n"
    b"From: <sip:43020300001320000001@4302030000>;tag=2043466181\r\n"
    b"To: <sip:43020300001320000001@4302030000>\r\n"
    b"Call-ID: 1011047669\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"Contact: <sip:43020300001320000001@192.168.1.64:5060>\r\n"
    b"Max-Forwards: 70\r\n"
    b"User-Agent: IP Camera\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)

KEEPALIVE_BODY = (
    '<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n'
    "<SN>43</SN>\r\n<DeviceID>43020300001320000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
).encode("gb2312")

# Compact names, odd case, a folded Via, bare LF line ends, GBK in a display name.
COMPACT_MESSAGE = (
    b"message sip:43020300002000000001@4302030000 SIP/2.0\n"
    b"v: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKa1,\n"
    b"  SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKa0\n"
    b'f: "' + "芦淞分局".encode("gbk") + b'" <sip:43020300002000000002@4302030000>;tag=77\n'
    b"t: <sip:43020300002000000001@4302030000>\n"
    b"i: abc@10.0.0.5\n"
    b"cseq: 20 MESSAGE\n"
    b"c: Application/MANSCDP+xml\n"
    b"l: " + str(len(KEEPALIVE_BODY)).encode() + b"\n\n" + KEEPALIVE_BODY
)


def test_a_camera_register_parses() -> None:
    request = parse_message(CAMERA_REGISTER)
    assert isinstance(request, SipRequest)
    assert request.method == "REGISTER"
    assert request.uri == "sip:43020300002000000001@4302030000"
    assert request.from_.user == "43020300001320000001"
    assert request.from_.tag == "2043466181"
    assert request.to.tag is None
    assert request.cseq == CSeq(1, "REGISTER")
    assert request.vias[0].branch == "z9hG4bK1371463273"
    assert request.vias[0].params["rport"] == ""
    assert request.headers.get("expires") == "3600"
    assert request.body == b""
    assert request.transaction_key == ("1011047669", 1, "REGISTER", "z9hG4bK1371463273")


def test_compact_headers_folding_case_and_gbk_display_names() -> None:
    request = parse_message(COMPACT_MESSAGE)
    assert isinstance(request, SipRequest)
    assert request.method == "MESSAGE"
    assert [via.host for via in request.vias] == ["10.0.0.5", "10.0.0.9"]
    assert request.from_.display == "芦淞分局"
    assert request.from_.user == "43020300002000000002"
    assert request.call_id == "abc@10.0.0.5"
    assert request.content_type == "application/manscdp+xml"
    assert request.body == KEEPALIVE_BODY
    assert [name for name, _ in request.headers][:4] == ["Via", "From", "To", "Call-ID"]


def test_a_datagram_without_content_length_takes_the_rest_and_extra_bytes_are_dropped() -> None:
    without = CAMERA_REGISTER.replace(b"Content-Length: 0\r\n", b"") + b"hello"
    assert parse_message(without).body == b"hello"
    assert parse_message(CAMERA_REGISTER + b"junk").body == b""


@pytest.mark.parametrize(
    ("data", "message", "answerable"),
    [
        (b"", "not a SIP start line", False),
        (b"HELLO WORLD\r\n\r\n", "not a SIP start line", False),
        (
            CAMERA_REGISTER.replace(b"Call-ID: 1011047669\r\n", b""),
            "missing header(s): Call-ID",
            False,
        ),
        (
            CAMERA_REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: one REGISTER"),
            "malformed CSeq",
            False,
        ),
        (CAMERA_REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 MESSAGE"), "CSeq method", True),
        (
            CAMERA_REGISTER.replace(b"Content-Length: 0", b"Content-Length: 10"),
            "but 0 body bytes",
            True,
        ),
        (
            CAMERA_REGISTER.replace(b"Content-Length: 0", b"Content-Length: x"),
            "malformed Content-Length",
            True,
        ),
        (
            CAMERA_REGISTER.replace(b"Max-Forwards: 70", b"Max Forwards 70"),
            "malformed header line",
            False,
        ),
        (CAMERA_REGISTER.replace(b"SIP/2.0/UDP 192", b"SIP/3.0/UDP 192"), "malformed Via", False),
    ],
)
def test_malformed_input_gives_clear_errors(data: bytes, message: str, answerable: bool) -> None:
    with pytest.raises(
        SipParseError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as caught:
        parse_message(data)
    assert (caught.value.partial is not None) == answerable


def test_responses_parse_and_a_response_copies_the_dialog_headers() -> None:
    request = parse_message(COMPACT_MESSAGE)
    assert isinstance(request, SipRequest)
    response = make_response(
        request, 200, to_tag="t1", headers=[("Date", "2024-05-01T08:00:00.000")]
    )
    wire = response.to_bytes()
    assert wire.startswith(b"SIP/2.0 200 OK\r\n")
    parsed = parse_message(wire)
    assert isinstance(parsed, SipResponse)
    assert parsed.status == 200
    assert [via.branch for via in parsed.vias] == ["z9hG4bKa1", "z9hG4bKa0"]
    assert parsed.to.tag == "t1"
    assert parsed.from_.tag == "77"
    assert parsed.from_.display == "芦淞分局"
    assert parsed.cseq == CSeq(20, "MESSAGE")
    assert parsed.headers.get("Content-Length") == "0"
    assert parsed.headers.get("Date") == "2024-05-01T08:00:00.000"


def test_a_to_tag_already_there_is_kept() -> None:
    request = parse_message(
        CAMERA_REGISTER.replace(
            b"To: <sip:43020300001320000001@4302030000>",
            b"To: <sip:43020300001320000001@4302030000>;tag=x",
        )
    )
    assert isinstance(request, SipRequest)
    assert make_response(request, 200, to_tag="y").to.tag == "x"


def test_to_bytes_fixes_content_length() -> None:
    request = parse_message(CAMERA_REGISTER)
    assert isinstance(request, SipRequest)
    request.body = "中文".encode("gb18030")
    again = parse_message(request.to_bytes())
    assert again.body == "中文".encode("gb18030")
    assert again.headers.get("Content-Length") == "4"


def test_the_stream_framer_cuts_by_content_length_across_chunks() -> None:
    wire = parse_message(COMPACT_MESSAGE).to_bytes()
    data = b"\r\n" + wire + CAMERA_REGISTER + wire
    framer = StreamFramer()
    got: list[object] = []
    for start in range(0, len(data), 7):
        got += framer.feed(data[start : start + 7])
    assert [type(m).__name__ for m in got] == ["SipRequest"] * 3
    assert [m.method for m in got if isinstance(m, SipRequest)] == [
        "MESSAGE",
        "REGISTER",
        "MESSAGE",
    ]
    assert framer.feed(b"") == []


def test_the_stream_framer_needs_content_length_and_reports_bad_messages() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="needs Content-Length"):
        framer.feed(CAMERA_REGISTER.replace(b"Content-Length: 0\r\n", b""))
    framer = StreamFramer()
    bad = CAMERA_REGISTER.replace(b"CSeq: 1 REGISTER", b"CSeq: 1 MESSAGE")
    got = framer.feed(bad + CAMERA_REGISTER)
    assert isinstance(got[0], SipParseError)
    assert isinstance(got[1], SipRequest)


def test_header_values() -> None:
    uri = SipUri.parse("sip:43020300001320000001@[::1]:5062;transport=tcp")
    assert (uri.user, uri.host, uri.port, uri.params) == (
        "43020300001320000001",
        "[::1]",
        5062,
        {"transport": "tcp"},
    )
    assert str(SipUri.parse("sip:a@b:5060")) == "sip:a@b:5060"
    bare = NameAddr.parse("sip:4302@4302030000;tag=9")
    assert (bare.uri, bare.tag, bare.user) == ("sip:4302@4302030000", "9", "4302")
    via = Via.parse("SIP/2.0/TCP 10.0.0.5;branch=z9hG4bKx;received=1.2.3.4")
    assert (via.transport, via.host, via.port, via.branch) == ("TCP", "10.0.0.5", None, "z9hG4bKx")
    assert split_commas('"a, b" <sip:x>, <sip:y;p=1,2>, sip:z') == [
        '"a, b" <sip:x>',
        "<sip:y;p=1,2>",
        "sip:z",
    ]
    headers = Headers([("l", "0"), ("X-Foo", "1")])
    headers.set("content-length", "5")
    assert list(headers) == [("Content-Length", "5"), ("X-Foo", "1")]
    with pytest.raises(SipParseError, match="unclosed"):
        NameAddr.parse("<sip:a@b")
    with pytest.raises(SipParseError, match="not a SIP URI"):
        SipUri.parse("http://x")
