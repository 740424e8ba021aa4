"""JPEG snapshots over HTTP: no auth, Basic or Digest, with a timeout and a byte cap.

Basic credentials go in an ``Authorization`` header (``aiohttp.BasicAuth`` is
deprecated in aiohttp 3.14); aiohttp drops it on a redirect to another origin.
Credentials come from the target; credentials written into the URL
(``http://user:pass@host/…``) are taken out of it before the request and used as
the target's when it names none, so that no URL with userinfo reaches aiohttp's
exceptions, a log line or a ``reason``.

When the department lists ``allow_networks``, every request of a poll is checked
against them before it is sent, redirects included (a client middleware, which
aiohttp runs for each hop): a camera inside the policy cannot send a poll to a
host outside it. The poll fails with :class:`AddressRefused`.

Digest auth goes through one :class:`aiohttp.DigestAuthMiddleware` per camera and
account, kept between polls: the middleware remembers the last challenge and answers
it preemptively with an incremented nonce count, so a poll after the first costs one
round trip instead of two (a stale nonce costs one 401 and a retry, handled inside).
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence

import aiohttp
from yarl import URL

from catalog.netpolicy import Network, url_allowed
from ingest.connectors.base import (
    AddressRefused,
    AuthRejected,
    AuthScheme,
    BadResponse,
    BodyTooLarge,
    CameraTarget,
    CameraTimeout,
    CameraUnreachable,
    ConnectorContext,
    NotAnImageResponse,
    SnapshotError,
)

MAX_REDIRECTS = 3
CONNECT_TIMEOUT_S = 5.0
CHUNK_BYTES = 64 * 1024
#: declared types we read as pictures; many cameras send octet-stream or nothing
_IMAGE_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})
_ACCEPT = {"Accept": "image/jpeg, image/*;q=0.9, */*;q=0.1"}


def _connect_error(exc: aiohttp.ClientConnectorError) -> SnapshotError:
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return CameraUnreachable("unknown host")
    if isinstance(exc.os_error, ConnectionRefusedError):
        return CameraUnreachable("connection refused")
    return CameraUnreachable("unreachable")


def translate_error(exc: BaseException) -> SnapshotError:
    """The :class:`SnapshotError` for an aiohttp or socket failure (never its text)."""
    if isinstance(exc, aiohttp.TooManyRedirects):
        return BadResponse("redirect loop")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_error(exc)
    if isinstance(exc, TimeoutError):  # also aiohttp's Server/ConnectionTimeoutError
        return CameraTimeout()
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError):
        return CameraUnreachable("connection closed")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return BadResponse("incomplete body")
    if isinstance(exc, aiohttp.InvalidURL):
        return BadResponse("invalid URL")
    if isinstance(exc, aiohttp.ClientResponseError):
        return BadResponse("malformed response")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return CameraUnreachable("connection failed")
    return SnapshotError()


def network_guard(networks: Sequence[Network]) -> aiohttp.ClientMiddlewareType:
    """A client middleware refusing any request (first or redirected) outside `networks`."""

    async def guard(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if not url_allowed(str(request.url), networks):
            raise AddressRefused(f"host {request.url.host} not in allow_networks")
        return await handler(request)

    return guard


def basic_authorization(username: str, password: str) -> str:
    """An ``Authorization: Basic`` value, UTF-8 (RFC 7617); aiohttp drops it across origins."""
    if ":" in username:
        raise AuthRejected("invalid username")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _content_type_rejected(content_type: str) -> bool:
    return not (content_type.startswith("image/") or content_type in _IMAGE_TYPES)


async def read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """The body of a 2xx picture answer, refusing more than ``max_bytes``."""
    if response.status in (401, 403):
        raise AuthRejected()
    if not 200 <= response.status < 300:
        raise BadResponse(f"HTTP {response.status}")
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if _content_type_rejected(content_type):
        shown = "".join(c for c in content_type[:40] if c.isprintable())
        raise NotAnImageResponse(f"not an image: {shown}")
    if response.content_length is not None and response.content_length > max_bytes:
        raise BodyTooLarge()
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if response.content_length is not None and encoding == "identity":
        # Not compressed, so aiohttp reads exactly the declared length (a shorter
        # body is a payload error): one read, without a chunk loop and a copy of
        # the picture. A compressed body may inflate past its length: capped below.
        return await response.read()
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        if len(body) + len(chunk) > max_bytes:
            raise BodyTooLarge()
        body += chunk
    return bytes(body)


@functools.lru_cache(maxsize=1 << 14)
def parse_camera_url(text: str) -> tuple[URL, str | None, str | None]:
    """A camera's URL without its userinfo, and that userinfo; BadResponse if invalid.

    Kept: the same few thousand URLs are parsed again at every poll (the ONVIF
    client's calls parse theirs here too).
    """
    try:
        url = URL(text)
    except (ValueError, TypeError):
        raise BadResponse("invalid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise BadResponse("invalid URL")
    return url.with_user(None), url.user, url.password


class HttpSnapshotConnector:
    """Takes snapshots of ``http`` cameras through the caller's shared session."""

    def __init__(self, ctx: ConnectorContext) -> None:
        self._session = ctx.session
        # (uid, origin, username) -> (password, middleware): nonce reuse across polls
        self._digest: dict[tuple[str, str, str], tuple[str, aiohttp.DigestAuthMiddleware]] = {}

    def _digest_middleware(
        self, uid: str, url: URL, username: str, password: str
    ) -> aiohttp.DigestAuthMiddleware:
        key = (uid, str(url.origin()), username)
        kept = self._digest.get(key)
        if kept is not None and kept[0] == password:
            return kept[1]
        try:
            middleware = aiohttp.DigestAuthMiddleware(username, password)
        except ValueError:  # a ':' in the username
            raise AuthRejected("invalid username") from None
        self._digest[key] = (password, middleware)
        return middleware

    def _credentials(self, target: CameraTarget) -> tuple[URL, AuthScheme, str | None, str]:
        if not target.url:
            raise SnapshotError("no URL")
        url, url_user, url_password = parse_camera_url(target.url)
        scheme, username, password = target.auth_scheme, target.username, target.password
        if url_user is not None and username is None:
            username, password = url_user, url_password
            scheme = "basic" if scheme == "none" else scheme
        return url, scheme, username, password or ""

    async def fetch(self, target: CameraTarget) -> bytes:
        """GET the target's URL and return the picture's bytes."""
        url, scheme, username, password = self._credentials(target)
        headers = _ACCEPT
        middlewares: list[aiohttp.ClientMiddlewareType] = []
        if target.allow_networks:  # outermost: a digest retry goes through it too
            middlewares.append(network_guard(target.allow_networks))
        if scheme == "basic" and username is not None:
            headers = {**_ACCEPT, "Authorization": basic_authorization(username, password)}
        elif scheme == "digest" and username is not None:
            middlewares.append(self._digest_middleware(target.uid, url, username, password))
        timeout = aiohttp.ClientTimeout(
            total=target.timeout_s, sock_connect=min(target.timeout_s, CONNECT_TIMEOUT_S)
        )
        try:
            async with self._session.get(
                url,
                middlewares=middlewares,
                timeout=timeout,
                max_redirects=MAX_REDIRECTS,
                headers=headers,
            ) as response:
                return await read_capped(response, target.max_bytes)
        except SnapshotError:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            # chained for debugging: aiohttp's text holds the URL, never userinfo (removed)
            raise translate_error(exc) from exc
