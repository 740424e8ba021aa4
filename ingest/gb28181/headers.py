"""SIP header values: names (compact forms included), URIs, name-addrs, Via and CSeq.

Pure code shared by the message parser (:mod:`ingest.gb28181.sip`) and the
endpoint. Every parse raises :class:`SipParseError` with a message naming
the bad value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingest.gb28181.sip import SipRequest

__all__ = [
    "COMPACT",
    "CSeq",
    "Headers",
    "NameAddr",
    "SipParseError",
    "SipUri",
    "Via",
    "canonical_name",
    "split_commas",
]

COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "l": "Content-Length",
    "m": "Contact",
    "c": "Content-Type",
    "e": "Content-Encoding",
    "k": "Supported",
    "s": "Subject",
    "o": "Event",
    "u": "Allow-Events",
}
_NAMES = (
    *("Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Expires", "Date"),
    *("Content-Type", "Content-Length", "Content-Encoding", "User-Agent", "Server", "Allow"),
    *("Supported", "Subject", "Event", "Allow-Events", "Subscription-State", "Warning"),
    *("WWW-Authenticate", "Authorization", "Route", "Record-Route", "Retry-After"),
)
_CANONICAL = {name.lower(): name for name in _NAMES}


class SipParseError(ValueError):
    """Bytes that are not a usable SIP message; ``partial`` is set when a 400 can still be sent."""

    def __init__(self, message: str, partial: SipRequest | None = None) -> None:
        super().__init__(message)
        self.partial = partial


def canonical_name(name: str) -> str:
    """``v`` -> ``Via``, ``call-id`` -> ``Call-ID``; unknown names keep their spelling."""
    lowered = name.strip().lower()
    return COMPACT.get(lowered) or _CANONICAL.get(lowered) or name.strip()


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside double quotes and angle brackets."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(value):
        if char == '"' and (index == 0 or value[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(0, depth - 1)
        elif char == "," and not quoted and depth == 0:
            parts.append(value[start:index].strip())
            start = index + 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


def _params(text: str) -> dict[str, str]:
    """``;a=1;b`` -> ``{"a": "1", "b": ""}`` (names lower-cased, quotes removed)."""
    result: dict[str, str] = {}
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name.strip():
            result[name.strip().lower()] = value.strip().strip('"')
    return result


class Headers:
    """Header fields in order, names canonical; lookups ignore case."""

    def __init__(self, fields: Iterable[tuple[str, str]] = ()) -> None:
        self._fields: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in fields]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        wanted = canonical_name(name).lower()
        return next((v for n, v in self._fields if n.lower() == wanted), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order, comma-joined values split (for Via and Contact)."""
        wanted = canonical_name(name).lower()
        values = [v for n, v in self._fields if n.lower() == wanted]
        if wanted in ("via", "contact", "route", "record-route"):
            return [part for value in values for part in split_commas(value)]
        return values

    def add(self, name: str, value: str) -> None:
        """Append a field."""
        self._fields.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, kept where the first one was."""
        wanted = canonical_name(name)
        index = next(
            (i for i, (n, _) in enumerate(self._fields) if n.lower() == wanted.lower()), None
        )
        self.remove(wanted)
        self._fields.insert(len(self._fields) if index is None else index, (wanted, value))

    def remove(self, name: str) -> None:
        """Drop every field of ``name``."""
        wanted = canonical_name(name).lower()
        self._fields = [(n, v) for n, v in self._fields if n.lower() != wanted]


@dataclass(frozen=True)
class SipUri:
    """``sip:user@host:port;params`` (``sips`` too); ``user`` may be empty."""

    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a SIP URI; raises :class:`SipParseError`."""
        match = re.fullmatch(
            r"(sips?):(?:([^@;]*)@)?(\[[0-9A-Fa-f:.]+\]|[^:;?]+)(?::([0-9]{1,5}))?([^?]*)(?:\?.*)?",
            text.strip(),
            re.IGNORECASE,
        )
        if match is None:
            raise SipParseError(f"not a SIP URI: {text[:80]!r}")
        scheme, user, host, port, params = match.groups()
        user = (user or "").split(":", 1)[0]  # drop a password in the userinfo
        return cls(scheme.lower(), user, host, int(port) if port else None, _params(params))

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params.items())
        return f"{self.scheme}:{user}{self.host}{port}{params}"


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact value: ``"Name" <sip:user@host>;tag=x`` or a bare URI with params."""

    display: str
    uri: str
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse a name-addr or addr-spec; raises :class:`SipParseError`."""
        text = text.strip()
        if "<" in text:
            display, _, rest = text.partition("<")
            uri, closed, params = rest.partition(">")
            if not closed:
                raise SipParseError(f"unclosed '<' in {text[:80]!r}")
            return cls(display.strip().strip('"'), uri.strip(), _params(params))
        uri, _, params = text.partition(";")
        if not uri:
            raise SipParseError("empty address")
        return cls("", uri.strip(), _params(params))

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter."""
        return self.params.get("tag")

    @property
    def user(self) -> str:
        """The user part of the URI (a GB/T 28181 id), or empty."""
        try:
            return SipUri.parse(self.uri).user
        except SipParseError:
            return ""


@dataclass(frozen=True)
class Via:
    """One Via value: transport, sent-by and parameters (``branch``, ``rport``, ``received``)."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse ``SIP/2.0/UDP host:port;branch=…``; raises :class:`SipParseError`."""
        match = re.fullmatch(
            r"SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[^:;\s]+)(?:\s*:\s*([0-9]{1,5}))?\s*(.*)",
            text.strip(),
            re.IGNORECASE,
        )
        if match is None:
            raise SipParseError(f"malformed Via: {text[:80]!r}")
        transport, host, port, params = match.groups()
        return cls(transport.upper(), host, int(port) if port else None, _params(params))

    @property
    def branch(self) -> str:
        """The branch parameter (empty for RFC 2543 peers)."""
        return self.params.get("branch", "")


@dataclass(frozen=True)
class CSeq:
    """``CSeq: 7 MESSAGE``."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse a CSeq value; raises :class:`SipParseError`."""
        match = re.fullmatch(r"([0-9]{1,10})\s+([A-Za-z]+)", text.strip())
        if match is None:
            raise SipParseError(f"malformed CSeq: {text[:40]!r}")
        return cls(int(match.group(1)), match.group(2).upper())

    def __str__(self) -> str:
        return f"{self.number} {self.method}"
