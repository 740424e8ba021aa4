"""The few ONVIF calls camgrid makes, as SOAP 1.2 over the caller's aiohttp session.

camgrid needs four operations: ``GetCapabilities`` (where the Media service is),
``GetProfiles`` and ``GetSnapshotUri`` (Media), and ``GetDeviceInformation``
(inventories). They are written here by hand rather than through
``onvif-zeep-async``: that package does work offline with its bundled WSDLs, but it
brings zeep, lxml and httpx, opens HTTP clients of its own instead of sharing the
worker's session and timeouts, and keeps a zeep client per service per camera, which
is a lot of machinery and memory for four fixed requests across 2,000 cameras. The
answers are parsed with the standard library's ElementTree, which expands no
external entities; answers are capped in size before parsing.

Requests carry a WS-Security ``UsernameToken`` with a ``PasswordDigest``
(``Base64(SHA-1(nonce + created + password))``, WSS UsernameToken Profile 1.0) when
the camera has credentials, and answer an HTTP Digest challenge too (some devices
ask for that instead). A SOAP fault whose subcode says the sender is not authorized
becomes :class:`AuthRejected`; other faults :class:`BadResponse` naming the subcode.
Credentials appear in no reason, log line or exception.

The Media service address (when on another host than the device service) and the
snapshot URI are the device's own answers, not the department's file: with the
department's ``allow_networks`` given, each must point inside them
(:func:`catalog.netpolicy.url_allowed`) before camgrid sends it a request, or the
call fails with :class:`AddressRefused` naming the host.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import aiohttp

from catalog.netpolicy import Network, url_allowed
from ingest.connectors.base import (
    AddressRefused,
    AuthRejected,
    BadResponse,
    BodyTooLarge,
    SnapshotError,
)
from ingest.connectors.http import CONNECT_TIMEOUT_S, parse_camera_url, translate_error

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TT = "http://www.onvif.org/ver10/schema"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordDigest"
)
BASE64_BINARY = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
MAX_ANSWER_BYTES = 1 << 20
#: fault subcodes (local names) that mean "your credentials are not accepted"
AUTH_FAULTS = frozenset(
    {"NotAuthorized", "FailedAuthentication", "InvalidSecurity", "InvalidSecurityToken"}
)


@dataclass(frozen=True)
class OnvifCredentials:
    """A device account; the password stays out of ``repr``."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class DeviceInformation:
    """``GetDeviceInformation``: who made the device and what it is."""

    manufacturer: str
    model: str
    firmware: str
    serial: str
    hardware_id: str


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """``Base64(SHA-1(nonce + created + password))`` (WSS UsernameToken Profile 1.0)."""
    raw = hashlib.sha1(nonce + created.encode() + password.encode(), usedforsecurity=False)
    return base64.b64encode(raw.digest()).decode("ascii")


def security_header(
    credentials: OnvifCredentials, *, nonce: bytes | None = None, created: str | None = None
) -> str:
    """The ``wsse:Security`` header with a fresh nonce and creation time."""
    nonce = nonce if nonce is not None else secrets.token_bytes(16)
    created = created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}">'
        "<wsse:UsernameToken>"
        f"<wsse:Username>{escape(credentials.username)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">'
        f"{password_digest(nonce, created, credentials.password)}</wsse:Password>"
        f'<wsse:Nonce EncodingType="{BASE64_BINARY}">'
        f"{base64.b64encode(nonce).decode('ascii')}</wsse:Nonce>"
        f"<wsu:Created>{created}</wsu:Created>"
        "</wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, credentials: OnvifCredentials | None) -> bytes:
    """A SOAP 1.2 envelope around ``body``, with WS-Security when there are credentials."""
    header = f"<s:Header>{security_header(credentials)}</s:Header>" if credentials else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:tds="{TDS}" xmlns:trt="{TRT}" xmlns:tt="{TT}">'
        f"{header}<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _printable(text: str, limit: int = 40) -> str:
    return "".join(c for c in text[:limit] if c.isprintable())


def fault_error(fault: ET.Element) -> SnapshotError:
    """The error a SOAP 1.2 ``Fault`` stands for (subcodes are searched at any depth)."""
    codes = [_text(value).rpartition(":")[2] for value in fault.iter(f"{{{SOAP_ENV}}}Value")]
    if AUTH_FAULTS.intersection(codes):
        return AuthRejected()
    detail = codes[-1] if codes else "unknown"
    return BadResponse(f"SOAP fault: {_printable(detail)}")


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def refused_host(url: str) -> str:
    """The host of a refused URL as a reason may show it (printable, bounded, no userinfo)."""
    host = _host(url)
    return _printable(host) if host else "(none)"


def parse_answer(data: bytes) -> ET.Element:
    """The first element in the ``Body`` of a SOAP answer; raises for a fault or non-SOAP."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise BadResponse("not a SOAP answer") from None
    body = root.find(f"{{{SOAP_ENV}}}Body")
    if _local(root.tag) != "Envelope" or body is None or len(body) == 0:
        raise BadResponse("not a SOAP answer")
    answer = body[0]
    if answer.tag == f"{{{SOAP_ENV}}}Fault":
        raise fault_error(answer)
    return answer


class OnvifClient:
    """Calls one ONVIF device at its device service ``url`` through a shared session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        credentials: OnvifCredentials | None,
        timeout_s: float,
        *,
        allow_networks: Sequence[Network] = (),
    ) -> None:
        self._session = session
        self.url = url
        self._credentials = credentials
        self._networks = tuple(allow_networks)
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, sock_connect=min(timeout_s, CONNECT_TIMEOUT_S)
        )
        self._middlewares: Sequence[aiohttp.DigestAuthMiddleware] = ()
        if credentials is not None:
            try:
                self._middlewares = (
                    aiohttp.DigestAuthMiddleware(credentials.username, credentials.password),
                )
            except ValueError:  # a ':' in the username
                raise AuthRejected("invalid username") from None

    async def call(self, url: str, namespace: str, operation: str, body: str) -> ET.Element:
        """POST one operation to ``url``; the answer's element, or a :class:`SnapshotError`."""
        target, _, _ = parse_camera_url(url)  # without its userinfo
        headers = {
            "Content-Type": (
                f'application/soap+xml; charset=utf-8; action="{namespace}/{operation}"'
            )
        }
        try:
            async with self._session.post(
                target,
                data=envelope(body, self._credentials),
                headers=headers,
                timeout=self._timeout,
                middlewares=self._middlewares,
                max_redirects=3,
            ) as response:
                if response.status in (401, 403):
                    raise AuthRejected()
                data = await response.content.read(MAX_ANSWER_BYTES + 1)
        except SnapshotError:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            # chained for debugging: the URL has no userinfo (removed above)
            raise translate_error(exc) from exc
        if len(data) > MAX_ANSWER_BYTES:
            raise BodyTooLarge()
        # a fault comes with 400 or 500; parse_answer finds and raises it
        return parse_answer(data)

    async def media_url(self) -> str:
        """The Media service's address (GetCapabilities); the device URL if none is named."""
        answer = await self.call(
            self.url,
            TDS,
            "GetCapabilities",
            "<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>",
        )
        return _text(answer.find(f".//{{{TT}}}Media/{{{TT}}}XAddr")) or self.url

    async def first_profile(self, media_url: str) -> str:
        """The token of the device's first media profile (GetProfiles)."""
        answer = await self.call(media_url, TRT, "GetProfiles", "<trt:GetProfiles/>")
        profile = answer.find(f"{{{TRT}}}Profiles")
        token = profile.get("token", "") if profile is not None else ""
        if not token:
            raise BadResponse("no media profile")
        return token

    async def snapshot_uri(self, media_url: str, profile: str) -> str:
        """The HTTP URI of a JPEG snapshot of ``profile`` (GetSnapshotUri)."""
        answer = await self.call(
            media_url,
            TRT,
            "GetSnapshotUri",
            f"<trt:GetSnapshotUri><trt:ProfileToken>{escape(profile)}</trt:ProfileToken>"
            "</trt:GetSnapshotUri>",
        )
        uri = _text(answer.find(f"{{{TRT}}}MediaUri/{{{TT}}}Uri"))
        if not uri.lower().startswith(("http://", "https://")):
            raise BadResponse("no snapshot URI")
        return uri

    def allowed(self, url: str, what: str) -> str:
        """``url`` when ``allow_networks`` admits it, else :class:`AddressRefused`.

        ``what`` names the address in the reason, e.g. ``snapshot URI host
        192.0.2.7 not in allow_networks``.
        """
        if not url_allowed(url, self._networks):
            raise AddressRefused(f"{what} host {refused_host(url)} not in allow_networks")
        return url

    async def resolve_snapshot_uri(self) -> str:
        """GetCapabilities, GetProfiles, then GetSnapshotUri for the first profile.

        Both addresses the device answers with are checked against ``allow_networks``.
        """
        media = await self.media_url()
        if _host(media) != _host(self.url):  # the device's own host is the file's word
            self.allowed(media, "media service")
        uri = await self.snapshot_uri(media, await self.first_profile(media))
        return self.allowed(uri, "snapshot URI")

    async def device_information(self) -> DeviceInformation:
        """Manufacturer, model, firmware, serial number and hardware id."""
        answer = await self.call(
            self.url, TDS, "GetDeviceInformation", "<tds:GetDeviceInformation/>"
        )

        def value(name: str) -> str:
            return _text(answer.find(f"{{{TDS}}}{name}"))

        return DeviceInformation(
            manufacturer=value("Manufacturer"),
            model=value("Model"),
            firmware=value("FirmwareVersion"),
            serial=value("SerialNumber"),
            hardware_id=value("HardwareId"),
        )
