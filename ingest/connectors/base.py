"""What every snapshot connector shares: the target it polls, its errors, its Protocol.

A connector turns one :class:`CameraTarget` into the bytes of one picture, or raises a
:class:`SnapshotError` whose ``reason`` is short enough for a camera's status_reason
and never carries a secret (no password, no URL userinfo). Connectors do not check the
picture itself; :func:`ingest.image.inspect_jpeg` does that.
"""

from __future__ import annotations

import re
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import aiohttp

from catalog.netpolicy import Network

AuthScheme = Literal["none", "basic", "digest"]

# the authority ends at the first / ? or #; its userinfo at the last @ before that
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")

#: the largest snapshot a connector accepts unless the target says otherwise
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


def redact_url(url: str) -> str:
    """``url`` with any userinfo (``user:password@``) replaced by ``***@``."""
    return _USERINFO.sub(r"\1***@", url)


@dataclass(frozen=True)
class CameraTarget:
    """Everything a connector needs to take one snapshot of one camera.

    ``password`` is the plain secret, resolved from the environment by the config
    layer; it stays out of ``repr``, and so does any userinfo written into ``url``,
    so that a logged target does not leak it. ``allow_networks`` is the department's
    `defaults.allow_networks`: where an address the camera itself hands back (an ONVIF
    snapshot URI) may point; empty means no policy (see :mod:`catalog.netpolicy`).
    """

    uid: str
    kind: str
    url: str | None = None
    path: Path | None = None
    auth_scheme: AuthScheme = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: float = 10.0
    max_bytes: int = DEFAULT_MAX_BYTES
    allow_networks: tuple[Network, ...] = ()

    def __repr__(self) -> str:
        url = None if self.url is None else redact_url(self.url)
        return (
            f"CameraTarget(uid={self.uid!r}, kind={self.kind!r}, url={url!r}, "
            f"path={self.path!r}, auth_scheme={self.auth_scheme!r}, "
            f"username={self.username!r}, timeout_s={self.timeout_s!r}, "
            f"max_bytes={self.max_bytes!r})"
        )


class SnapshotError(Exception):
    """A snapshot could not be taken; ``reason`` is short, safe to store and to show."""

    default_reason: ClassVar[str] = "snapshot failed"

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason or self.default_reason
        super().__init__(self.reason)


class CameraUnreachable(SnapshotError):
    """No connection: refused, no route, unknown host, a missing file."""

    default_reason = "unreachable"


class CameraTimeout(SnapshotError):
    """The camera did not answer completely within the target's timeout."""

    default_reason = "timeout"


class AuthRejected(SnapshotError):
    """The camera refused the credentials (HTTP 401 or 403)."""

    default_reason = "auth rejected"


class BadResponse(SnapshotError):
    """The camera answered, but not with a picture: an HTTP error, a redirect loop."""

    default_reason = "bad response"


class BodyTooLarge(SnapshotError):
    """The answer is larger than the target's ``max_bytes``."""

    default_reason = "body too large"


class NotAnImageResponse(SnapshotError):
    """The answer declares a type that is not a picture (``text/html``, JSON, ...)."""

    default_reason = "not an image"


class AddressRefused(SnapshotError):
    """An address the camera handed back lies outside its department's ``allow_networks``."""

    default_reason = "address not in allow_networks"


class SnapshotConnector(Protocol):
    """Takes one snapshot of a camera of one ``kind``."""

    async def fetch(self, target: CameraTarget) -> bytes:
        """The picture's bytes, or a :class:`SnapshotError`."""
        ...


@dataclass(frozen=True)
class ConnectorContext:
    """What the caller lends every connector: one HTTP session and a blocking-work pool.

    ``executor`` None means the event loop's default executor.
    """

    session: aiohttp.ClientSession
    executor: Executor | None = None
