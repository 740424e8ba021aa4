"""SIP messages (RFC 3261) as GB/T 28181 peers send them: parse, build, frame.

Pure code, no sockets. The parser is tolerant where real devices are sloppy
(compact header names ``v f t i l m c``, any case, folded lines, bare ``LF``
line ends, GBK display names) and strict where sloppiness would be a bug:
a missing ``Via``/``From``/``To``/``Call-ID``/``CSeq``, a ``CSeq`` method
that differs from the request's, or a body shorter than ``Content-Length``
are errors. :class:`StreamFramer` cuts a TCP byte stream into messages by
``Content-Length``, which a stream message must carry.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from ingest.gb28181.headers import (
    CSeq,
    Headers,
    NameAddr,
    SipParseError,
    SipUri,
    Via,
    split_commas,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "REASONS",
    "CSeq",
    "Headers",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "StreamFramer",
    "Via",
    "make_response",
    "new_branch",
    "new_tag",
    "parse_message",
    "split_commas",
]

MAX_MESSAGE_BYTES = 1 << 20
"""The largest message accepted (a Catalog answer of a big NVR stays far below)."""

_MANDATORY = ("Via", "From", "To", "Call-ID", "CSeq")
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_STATUS_LINE = re.compile(r"SIP/2\.0 +([1-6][0-9]{2})(?: +(.*))?", re.IGNORECASE)
_REQUEST_LINE = re.compile(r"([A-Za-z]+) +(\S+) +SIP/2\.0", re.IGNORECASE)

REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    415: "Unsupported Media Type",
    481: "Call/Transaction Does Not Exist",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclass
class SipMessage:
    """What requests and responses share: headers and a body (bytes, in the body's own charset)."""

    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> CSeq:
        """The parsed CSeq."""
        return CSeq.parse(self.headers.get("CSeq") or "")

    @property
    def vias(self) -> list[Via]:
        """Every Via, topmost first."""
        return [Via.parse(value) for value in self.headers.get_all("Via")]

    @property
    def from_(self) -> NameAddr:
        """The From header."""
        return NameAddr.parse(self.headers.get("From") or "")

    @property
    def to(self) -> NameAddr:
        """The To header."""
        return NameAddr.parse(self.headers.get("To") or "")

    @property
    def content_type(self) -> str:
        """The media type in lower case, without parameters."""
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def start_line(self) -> str:
        """The first line, without its line end."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire, with a Content-Length that matches the body."""
        self.headers.set("Content-Length", str(len(self.body)))
        lines = [self.start_line(), *(f"{name}: {value}" for name, value in self.headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class SipRequest(SipMessage):
    """A request: ``METHOD uri SIP/2.0``."""

    method: str = ""
    uri: str = ""

    def start_line(self) -> str:
        """``MESSAGE sip:… SIP/2.0``."""
        return f"{self.method} {self.uri} SIP/2.0"

    @property
    def transaction_key(self) -> tuple[str, int, str, str]:
        """What identifies a retransmission of this request: Call-ID, CSeq, method, top branch."""
        vias = self.vias
        return (self.call_id, self.cseq.number, self.method, vias[0].branch if vias else "")


@dataclass
class SipResponse(SipMessage):
    """A response: ``SIP/2.0 code reason``."""

    status: int = 0
    reason: str = ""

    def start_line(self) -> str:
        """``SIP/2.0 200 OK``."""
        return f"SIP/2.0 {self.status} {self.reason}"


def _decode_head(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")  # display names in GBK, sadly common


def _split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Header section and the rest, at the first blank line (CRLF or bare LF)."""
    match = re.search(rb"\r?\n\r?\n", data)
    if match is None:
        return None
    return data[: match.start()], data[match.end() :]


def _header_lines(head: str) -> tuple[str, list[tuple[str, str]]]:
    lines = re.split(r"\r?\n", head)
    first, fields = lines[0].strip(), list[tuple[str, str]]()
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and fields:  # folded continuation line
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or _TOKEN.fullmatch(name.strip()) is None:
            raise SipParseError(f"malformed header line {line[:60]!r}")
        fields.append((name, value.strip()))
    return first, fields


def _content_length(headers: Headers) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    if not value.strip().isdigit():
        raise SipParseError(f"malformed Content-Length {value[:20]!r}")
    return int(value)


def _build(first: str, headers: Headers, body: bytes) -> SipRequest | SipResponse:
    status = _STATUS_LINE.fullmatch(first)
    if status is not None:
        code = int(status.group(1))
        return SipResponse(headers, body, code, (status.group(2) or "").strip())
    request = _REQUEST_LINE.fullmatch(first)
    if request is None:
        raise SipParseError(f"not a SIP start line: {first[:80]!r}")
    return SipRequest(headers, body, request.group(1).upper(), request.group(2))


def _check(message: SipRequest | SipResponse) -> None:
    """Mandatory headers present and well-formed; raises with a partial request for a 400."""
    partial = message if isinstance(message, SipRequest) else None
    missing = [name for name in _MANDATORY if message.headers.get(name) is None]
    if missing:
        raise SipParseError(f"missing header(s): {', '.join(missing)}", None)
    try:
        cseq = message.cseq
        message.vias  # noqa: B018 -- parses every Via
        message.from_  # noqa: B018
        message.to  # noqa: B018
    except SipParseError as exc:
        raise SipParseError(str(exc), None) from None
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise SipParseError(f"CSeq method {cseq.method} differs from {message.method}", partial)


def parse_message(data: bytes, *, stream: bool = False) -> SipRequest | SipResponse:
    """Parse one whole message (a datagram, or one framed off a stream).

    Without ``Content-Length`` a datagram's body is the rest of it; extra bytes
    after ``Content-Length`` are dropped, fewer are an error. With ``stream`` a
    missing ``Content-Length`` is an error too.
    """
    data = data.lstrip(b"\r\n")
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes is larger than {MAX_MESSAGE_BYTES}")
    parts = _split_head(data)
    if parts is None:
        head, rest = data.rstrip(b"\r\n"), b""
    else:
        head, rest = parts
    first, fields = _header_lines(_decode_head(head))
    headers = Headers(fields)
    message = _build(first, headers, b"")
    partial = message if isinstance(message, SipRequest) else None
    try:
        length = _content_length(headers)
    except SipParseError as exc:
        raise SipParseError(str(exc), partial) from None
    if length is None and stream:
        raise SipParseError("a message on a stream needs Content-Length", partial)
    if length is not None and len(rest) < length:
        raise SipParseError(f"Content-Length {length} but {len(rest)} body bytes", partial)
    message.body = rest if length is None else rest[:length]
    _check(message)
    return message


class StreamFramer:
    """Cuts a TCP byte stream into messages by ``Content-Length``.

    A framed message that does not parse comes back as its :class:`SipParseError`
    (the stream goes on); bytes that cannot be framed at all raise it (the
    stream cannot go on).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[SipRequest | SipResponse | SipParseError]:
        """Add received bytes; return every message now complete."""
        self._buffer += data
        messages: list[SipRequest | SipResponse | SipParseError] = []
        while True:
            while self._buffer[:2] == b"\r\n" or self._buffer[:1] == b"\n":  # keep-alive pings
                del self._buffer[: 2 if self._buffer[:1] == b"\r" else 1]
            parts = _split_head(bytes(self._buffer[: MAX_MESSAGE_BYTES + 4]))
            if parts is None:
                if len(self._buffer) > MAX_MESSAGE_BYTES:
                    raise SipParseError("no end of headers within the message size limit")
                return messages
            head, rest = parts
            _, fields = _header_lines(_decode_head(head))
            length = _content_length(Headers(fields))
            if length is None:
                raise SipParseError("a message on a stream needs Content-Length")
            if length > MAX_MESSAGE_BYTES:
                raise SipParseError(f"Content-Length {length} is larger than {MAX_MESSAGE_BYTES}")
            if len(rest) < length:
                return messages
            size = len(self._buffer) - len(rest) + length
            whole = bytes(self._buffer[:size])
            del self._buffer[:size]
            try:
                messages.append(parse_message(whole, stream=True))
            except SipParseError as exc:
                messages.append(exc)


def new_tag() -> str:
    """A From/To tag."""
    return secrets.token_hex(6)


def new_branch() -> str:
    """A Via branch with the RFC 3261 magic cookie."""
    return "z9hG4bK" + secrets.token_hex(10)


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request``: its Vias, From, To (with ``to_tag`` added), Call-ID and CSeq."""
    fields = [("Via", via) for via in request.headers.get_all("Via")]
    to = request.headers.get("To") or ""
    if to_tag and status > 100 and NameAddr.parse(to).tag is None:
        to = f"{to};tag={to_tag}"
    fields += [
        ("From", request.headers.get("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request.headers.get("CSeq") or ""),
        *headers,
    ]
    return SipResponse(Headers(fields), body, status, reason or REASONS.get(status, "Unknown"))
