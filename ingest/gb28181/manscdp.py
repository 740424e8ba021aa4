"""MANSCDP bodies (``Application/MANSCDP+xml``): Keepalive, Catalog Query, Response and Notify.

Pure code. The body's charset comes from its XML declaration: ``GB2312``,
``GBK`` and ``GB18030`` are all decoded as GB18030 (a superset of the other
two, so characters outside GB2312 that devices send anyway survive); no
declaration means UTF-8. Devices that declare one charset and send the other
are common, so a body declared UTF-8 that is not UTF-8 is read as GB18030, and
a body declared GB2312 whose non-ASCII bytes are valid UTF-8 (which real
GB2312 text practically never is) is read as UTF-8.

DTDs are refused (no entity expansion), and a bare ``&`` in a name, which
many devices send unescaped, is read as a literal ampersand. Element names
are matched ignoring case; fields nested in an ``<Info>`` element are read
as if they were the item's own.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

__all__ = [
    "CatalogItem",
    "ManscdpError",
    "ManscdpMessage",
    "catalog_query",
    "decode_body",
    "parse_manscdp",
]

_DECLARATION = re.compile(rb"^\s*<\?xml\b[^>]*?\?>", re.IGNORECASE)
_DECLARATION_TEXT = re.compile(r"^\s*<\?xml\b[^>]*?\?>", re.IGNORECASE)
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""", re.IGNORECASE)
_BARE_AMPERSAND = re.compile(r"&(?!(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);)")
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "cp936", "x-gbk", "gb_2312-80", "euc-cn", "hz-gb-2312"}
_HTTP_FIELDS = ("snapshoturl", "snapurl", "snapshotaddress", "pictureurl", "imageurl", "photourl")
_RTSP_FIELDS = ("rtspurl", "rtspaddress", "streamurl", "mediaurl")


class ManscdpError(ValueError):
    """A body that is not a usable MANSCDP document; the message says why."""


@dataclass(frozen=True)
class CatalogItem:
    """One ``<Item>`` of a Catalog answer or notification, as the device wrote it.

    ``status`` is upper-cased (``ON``, ``OFF``, ``ONLINE``, ``OFFLINE``, …);
    ``event`` is set in notifications (``ADD``, ``DEL``, ``UPDATE``, ``ON``,
    ``OFF``, ``VLOST``, ``DEFECT``); coordinates of 0 mean "not given".
    ``snapshot_url`` comes from the vendor extensions some platforms add.
    """

    device_id: str
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    owner: str = ""
    civil_code: str = ""
    address: str = ""
    parental: bool = False
    parent_id: str = ""
    business_group_id: str = ""
    status: str = ""
    longitude: float | None = None
    latitude: float | None = None
    ptz_type: str = ""
    event: str = ""
    snapshot_url: str = ""

    @property
    def online(self) -> bool | None:
        """True for ON/ONLINE, False for OFF/OFFLINE, None for anything else."""
        if self.status in ("ON", "ONLINE"):
            return True
        if self.status in ("OFF", "OFFLINE"):
            return False
        return None


@dataclass(frozen=True)
class ManscdpMessage:
    """One MANSCDP document: its root (``Query``, ``Response``, ``Notify``, ``Control``) and fields.

    ``sum_num`` and ``items`` are those of a Catalog answer or notification;
    ``status`` is a Keepalive's; ``problems`` lists items that were skipped or
    fields that were ignored, for the log.
    """

    root: str
    cmd_type: str
    sn: int
    device_id: str
    status: str = ""
    sum_num: int | None = None
    items: tuple[CatalogItem, ...] = ()
    problems: tuple[str, ...] = ()


def _declared_encoding(body: bytes) -> str | None:
    declaration = _DECLARATION.match(body)
    if declaration is None:
        return None
    found = _ENCODING.search(declaration.group(0))
    return found.group(1).decode("ascii").lower() if found else None


def decode_body(body: bytes) -> str:
    """The body as text, by its XML declaration (see the module docstring for the fallbacks)."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict")
    declared = _declared_encoding(body) or "utf-8"
    if declared in _GB_FAMILY:
        if not body.isascii():
            try:
                return body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        encoding = "gb18030"
    else:
        try:
            encoding = codecs.lookup(declared).name
        except LookupError:
            raise ManscdpError(f"unknown encoding {declared!r} in the XML declaration") from None
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding != "gb18030":
            try:
                return body.decode("gb18030")
            except UnicodeDecodeError:
                pass
        raise ManscdpError(f"body is not {declared} text (bad byte at {exc.start})") from None


def _parse_xml(text: str) -> ET.Element:
    text = _DECLARATION_TEXT.sub("", text, count=1).lstrip()
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise ManscdpError("DTDs and entity declarations are not accepted")
    text = _BARE_AMPERSAND.sub("&amp;", text)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        raise ManscdpError(f"malformed XML at line {line} column {column + 1}") from None


def _children(element: ET.Element) -> dict[str, ET.Element]:
    """Child elements by lower-cased tag (the first of each), ``<Info>`` children included."""
    found: dict[str, ET.Element] = {}
    for child in element:
        tag = child.tag.lower() if isinstance(child.tag, str) else ""
        if tag == "info":
            for inner in child:
                if isinstance(inner.tag, str):
                    found.setdefault(inner.tag.lower(), inner)
        found.setdefault(tag, child)
    return found


def _text(fields: dict[str, ET.Element], name: str) -> str:
    element = fields.get(name)
    return (element.text or "").strip() if element is not None else ""


def _coordinate(text: str, limit: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value == 0 or not -limit <= value <= limit:
        return None  # 0 is how devices say "not surveyed"
    return value


def _item(element: ET.Element) -> CatalogItem:
    fields = _children(element)
    device_id = _text(fields, "deviceid")
    if not device_id:
        raise ManscdpError("an Item without DeviceID")
    snapshot = next(
        (_text(fields, n) for n in (*_HTTP_FIELDS, *_RTSP_FIELDS) if _text(fields, n)), ""
    )
    return CatalogItem(
        device_id=device_id,
        name=_text(fields, "name"),
        manufacturer=_text(fields, "manufacturer"),
        model=_text(fields, "model"),
        owner=_text(fields, "owner"),
        civil_code=_text(fields, "civilcode"),
        address=_text(fields, "address"),
        parental=_text(fields, "parental") == "1",
        parent_id=_text(fields, "parentid"),
        business_group_id=_text(fields, "businessgroupid"),
        status=_text(fields, "status").upper(),
        longitude=_coordinate(_text(fields, "longitude"), 180),
        latitude=_coordinate(_text(fields, "latitude"), 90),
        ptz_type=_text(fields, "ptztype"),
        event=_text(fields, "event").upper(),
        snapshot_url=snapshot,
    )


def _int(fields: dict[str, ET.Element], name: str, label: str) -> int | None:
    text = _text(fields, name)
    if not text:
        return None
    if not text.isdigit():
        raise ManscdpError(f"{label} {text[:20]!r} is not a number")
    return int(text)


def parse_manscdp(body: bytes) -> ManscdpMessage:
    """Parse a MANSCDP body; raises :class:`ManscdpError` naming what is wrong."""
    if not body.strip():
        raise ManscdpError("empty body")
    root = _parse_xml(decode_body(body))
    fields = _children(root)
    cmd_type = _text(fields, "cmdtype")
    if not cmd_type:
        raise ManscdpError(f"<{root.tag}> without CmdType")
    sn = _int(fields, "sn", "SN")
    if sn is None:
        raise ManscdpError(f"{cmd_type} without SN")
    items: list[CatalogItem] = []
    problems: list[str] = []
    device_list = fields.get("devicelist")
    for position, element in enumerate(device_list if device_list is not None else []):
        if not isinstance(element.tag, str) or element.tag.lower() != "item":
            continue
        try:
            items.append(_item(element))
        except ManscdpError as exc:
            problems.append(f"item {position + 1}: {exc}")
    sum_num = _int(fields, "sumnum", "SumNum")
    if (
        cmd_type.lower() == "catalog"
        and root.tag.lower() in ("response", "notify")
        and sum_num is None
    ):
        if root.tag.lower() == "response":
            raise ManscdpError("Catalog Response without SumNum")
        sum_num = len(items)
    return ManscdpMessage(
        root=root.tag,
        cmd_type=cmd_type,
        sn=sn,
        device_id=_text(fields, "deviceid"),
        status=_text(fields, "status").upper(),
        sum_num=sum_num,
        items=tuple(items),
        problems=tuple(problems),
    )


def catalog_query(sn: int, device_id: str) -> bytes:
    """A ``Query/CmdType=Catalog`` body for the device ``device_id``."""
    return (
        '<?xml version="1.0" encoding="GB2312"?>\r\n'
        "<Query>\r\n"
        "<CmdType>Catalog</CmdType>\r\n"
        f"<SN>{sn}</SN>\r\n"
        f"<DeviceID>{escape(device_id)}</DeviceID>\r\n"
        "</Query>\r\n"
    ).encode("gb18030")
