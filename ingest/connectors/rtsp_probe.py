"""Why an RTSP stream would not open: one ``DESCRIBE`` exchange, asked on the event loop.

OpenCV's ``VideoCapture`` says only *that* a stream did not open, never why. When it
fails, the rtsp connector asks the camera itself with one ``DESCRIBE`` on a fresh
connection: refused or silent sockets, an unknown host, a 401 to our credentials
(Basic or Digest, answered the way FFmpeg answers them) and a 404 each become the
matching :class:`~ingest.connectors.base.SnapshotError`. The request line carries
the URL without userinfo; credentials only ever travel in an ``Authorization`` header
sent in answer to a challenge.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from ingest.connectors.base import (
    AuthRejected,
    BadResponse,
    CameraTimeout,
    CameraUnreachable,
    SnapshotError,
)

RTSP_PORT = 554
RTSPS_PORT = 322
MAX_HEADER_BYTES = 16 * 1024
USER_AGENT = "camgrid"
_STATUS = re.compile(rb"^RTSP/1\.\d (\d{3})")
_PAIRS = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class RtspAnswer:
    """The status of one RTSP response and its ``WWW-Authenticate`` challenges."""

    status: int
    challenges: tuple[str, ...]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def challenge_params(challenge: str) -> dict[str, str]:
    """The ``key=value`` pairs of a Digest challenge, quotes and escapes removed."""
    out: dict[str, str] = {}
    for m in _PAIRS.finditer(challenge.partition(" ")[2]):
        quoted, bare = m.group(2), m.group(3)
        out[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return out


def digest_authorization(
    params: dict[str, str],
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
) -> str:
    """An ``Authorization: Digest`` value (RFC 2617, MD5, with or without ``qop=auth``)."""
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    fields = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
    ]
    qops = [q.strip() for q in params.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce = cnonce or secrets.token_hex(8)
        response = _md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", "nc=00000001", f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in params:
        fields.append(f'opaque="{params["opaque"]}"')
    if "algorithm" in params:
        fields.append(f"algorithm={params['algorithm']}")
    return "Digest " + ", ".join(fields)


def authorization(challenges: tuple[str, ...], uri: str, username: str, password: str) -> str:
    """The answer to the strongest challenge offered: Digest (MD5) before Basic."""
    for challenge in challenges:
        if challenge.lower().startswith("digest"):
            params = challenge_params(challenge)
            if params.get("algorithm", "MD5").upper() == "MD5":
                return digest_authorization(
                    params, method="DESCRIBE", uri=uri, username=username, password=password
                )
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: str
) -> RtspAnswer:
    writer.write(head.encode())
    await writer.drain()
    raw = await reader.readuntil(b"\r\n\r\n")
    if len(raw) > MAX_HEADER_BYTES:  # pragma: no cover - readuntil's limit stops it first
        raise BadResponse("RTSP header too large")
    match = _STATUS.match(raw)
    if match is None:
        raise BadResponse("not an RTSP server")
    challenges: list[str] = []
    length = 0
    for line in raw.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "www-authenticate":
            challenges.append(value.strip())
        elif name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    if length:
        await reader.readexactly(min(length, MAX_HEADER_BYTES))
    return RtspAnswer(int(match.group(1)), tuple(challenges))


def _request(uri: str, cseq: int, auth: str | None) -> str:
    lines = [
        f"DESCRIBE {uri} RTSP/1.0",
        f"CSeq: {cseq}",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
    ]
    if auth is not None:
        lines.append(f"Authorization: {auth}")
    return "\r\n".join(lines) + "\r\n\r\n"


async def _describe(uri: str, username: str | None, password: str) -> int:
    parts = urlsplit(uri)
    secure = parts.scheme == "rtsps"
    context: ssl.SSLContext | None = None
    if secure:
        # cameras present self-signed certificates; FFmpeg does not verify them either
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    port = parts.port or (RTSPS_PORT if secure else RTSP_PORT)
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=context, limit=MAX_HEADER_BYTES
    )
    try:
        answer = await _exchange(reader, writer, _request(uri, 1, None))
        if answer.status == 401 and username is not None and answer.challenges:
            auth = authorization(answer.challenges, uri, username, password)
            answer = await _exchange(reader, writer, _request(uri, 2, auth))
        return answer.status
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def status_error(status: int) -> SnapshotError:
    """What a final ``DESCRIBE`` status says about a stream that did not open."""
    if status in (401, 403):
        return AuthRejected()
    if status == 404:
        return BadResponse("stream not found")
    if 200 <= status < 300:
        # the camera describes the stream, yet FFmpeg could not set it up or play it
        return SnapshotError("cannot open stream")
    return BadResponse(f"RTSP {status}")


async def diagnose(
    uri: str, username: str | None, password: str, timeout_s: float
) -> SnapshotError:
    """The error that explains why ``uri`` (no userinfo) would not open, within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            status = await _describe(uri, username, password)
    except TimeoutError:
        return CameraTimeout()
    except ConnectionRefusedError:
        return CameraUnreachable("connection refused")
    except socket.gaierror:
        return CameraUnreachable("unknown host")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, UnicodeError):
        return BadResponse("not an RTSP server")
    except SnapshotError as exc:
        return exc
    except ValueError:  # a port out of range
        return BadResponse("invalid URL")
    except OSError:  # ssl.SSLError included
        return CameraUnreachable("connection failed")
    return status_error(status)
