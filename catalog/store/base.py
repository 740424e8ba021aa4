"""The object store contract: one small async Protocol, its errors, and key rules.

Every store (:class:`~catalog.store.local.LocalStore`,
:class:`~catalog.store.minio.MinioStore`) implements :class:`ObjectStore` and
raises only :class:`StoreError` subclasses. Keys are checked by
:func:`check_key`, the single place that decides what a key may look like:
``/``-separated segments of ``[A-Za-z0-9._-]``, none of them ``.`` or ``..``.
That keeps a key a safe relative path on a filesystem and an unambiguous
object name in S3.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "MAX_KEY_LENGTH",
    "InvalidKey",
    "ObjectInfo",
    "ObjectMissing",
    "ObjectStore",
    "StoreError",
    "StoreUnavailable",
    "check_key",
    "check_prefix",
]

#: S3 allows 1024 bytes; common filesystems allow 255 per name, 4096 per path.
MAX_KEY_LENGTH: Final = 1024
_MAX_SEGMENT_LENGTH: Final = 255
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# A whole valid key in one match: segments of 1 to 255 allowed characters, none of them
# "." or "..", joined by single slashes. Keys that fail it go through the checks one
# by one, which say what is wrong.
_VALID_SEGMENT = rf"[A-Za-z0-9._-]{{1,{_MAX_SEGMENT_LENGTH}}}"
_VALID_KEY = re.compile(rf"(?:(?!\.\.?(?:/|\Z)){_VALID_SEGMENT}/)*(?!\.\.?\Z){_VALID_SEGMENT}")


class StoreError(Exception):
    """Base of every error an object store raises."""


class ObjectMissing(StoreError):
    """No object under the key."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or cannot take writes (network, outage, full disk)."""


class InvalidKey(StoreError, ValueError):
    """A key (or prefix) that :func:`check_key` rejects."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What :meth:`ObjectStore.stat` reports about one object.

    ``etag`` is the hex MD5 of the content on both stores (what S3 reports for
    a single-part upload), so it can be compared across stores.
    ``modified`` is timezone-aware UTC.
    """

    key: str
    size: int
    etag: str
    modified: datetime


def _describe(key: object) -> str:
    # repr() shows control characters escaped and is bounded, so hostile
    # keys can go into messages and logs safely.
    text = repr(key)
    return text if len(text) <= 120 else text[:117] + "..."


def check_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe object key, else raise InvalidKey.

    Rejected: empty keys, keys longer than ``MAX_KEY_LENGTH``, absolute keys,
    a trailing or doubled ``/``, ``.`` and ``..`` segments, backslashes, NUL
    and other control characters, percent-encoding (``%2F``), and any
    character outside ``[A-Za-z0-9._-]`` within a segment.
    """
    if isinstance(key, str) and len(key) <= MAX_KEY_LENGTH and _VALID_KEY.fullmatch(key):
        return key
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"invalid object key {_describe(key)}: empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"invalid object key {_describe(key)}: longer than {MAX_KEY_LENGTH}")
    if key.startswith("/"):
        raise InvalidKey(f"invalid object key {_describe(key)}: absolute")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(f"invalid object key {_describe(key)}: empty segment")
        if segment in (".", ".."):
            raise InvalidKey(f"invalid object key {_describe(key)}: {segment!r} segment")
        if len(segment) > _MAX_SEGMENT_LENGTH:
            raise InvalidKey(f"invalid object key {_describe(key)}: segment too long")
        if _SEGMENT.fullmatch(segment) is None:
            raise InvalidKey(
                f"invalid object key {_describe(key)}: characters outside [A-Za-z0-9._/-]"
            )
    return key


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is empty or the start of some valid key."""
    if prefix == "":
        return prefix
    # A prefix may end in "/" or mid-segment; probing with one more character
    # checks it by the same rules as a whole key.
    try:
        check_key(prefix + "x")
    except InvalidKey:
        raise InvalidKey(f"invalid key prefix {_describe(prefix)}") from None
    return prefix


@runtime_checkable
class ObjectStore(Protocol):
    """An async store of immutable-by-convention blobs under checked keys.

    Every method validates its key with :func:`check_key`. Errors are
    :class:`ObjectMissing`, :class:`StoreUnavailable`, :class:`InvalidKey`,
    or another :class:`StoreError`.
    """

    async def put(
        self, key: str, data: bytes, content_type: str = "image/jpeg", *, durable: bool = True
    ) -> None:
        """Store ``data`` under ``key``, replacing any object there, atomically.

        Once it returns, the object survives a crash of the process. With
        ``durable`` (the default) it also survives a power cut; ``durable=False``
        is for derived objects that can be made again (thumbnails), which may then
        be lost or cut short by a power cut, and lets a store skip its syncs.
        """
        ...

    async def put_snapshot(
        self, image_key: str, image: bytes, thumb_key: str, thumb: bytes
    ) -> None:
        """Store a snapshot's picture durably and its thumbnail not, as two ``put`` calls would.

        The thumbnail is made again from the picture if a power cut loses it
        (``catalog.store.thumbs``). A store may do both in one trip; when it
        raises, the thumbnail may or may not be stored, and the picture is not,
        or not durably.
        """
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; ObjectMissing if there are none."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size, etag and time of the object under ``key``, or None if missing."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object under ``key``; no error if it is already gone."""
        ...

    async def presign(self, key: str, expires: timedelta) -> str | None:
        """A URL that fetches the object without credentials, or None if the store can't."""
        ...

    def iter_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every key starting with ``prefix``, in ascending (byte) order."""
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...
