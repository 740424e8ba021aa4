"""Object stores for snapshot images: the protocol, the two stores, and ``open_store``.

``open_store(url)`` turns a store URL from the settings into a store:

- ``file:var/objects`` -- a :class:`LocalStore` under ``base_dir`` (the
  working folder by default); ``file:///abs/path`` or ``file:/abs/path`` --
  an absolute directory;
- ``s3://ACCESS:SECRET@host:port/bucket?secure=false&region=REGION`` -- a
  :class:`MinioStore`. Credentials are percent-decoded, so a secret holding
  ``: / @ ? #`` must be percent-encoded. ``secure`` defaults to true.

A malformed URL raises ValueError with a message that names the problem but
never repeats any part of the URL, which may hold a secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from catalog.store.base import (
    InvalidKey,
    ObjectInfo,
    ObjectMissing,
    ObjectStore,
    StoreError,
    StoreUnavailable,
    check_key,
    check_prefix,
)
from catalog.store.keys import SnapshotKind, snapshot_key, snapshot_keys
from catalog.store.local import LocalStore
from catalog.store.minio import MinioStore

__all__ = [
    "InvalidKey",
    "LocalStore",
    "MinioStore",
    "ObjectInfo",
    "ObjectMissing",
    "ObjectStore",
    "SnapshotKind",
    "StoreError",
    "StoreUnavailable",
    "check_key",
    "check_prefix",
    "open_store",
    "snapshot_key",
    "snapshot_keys",
]

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})


def _bad(problem: str) -> ValueError:
    return ValueError(f"bad store URL: {problem}")


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises on a bad one
    except ValueError:
        raise _bad("cannot be parsed (percent-encode ':/@?#' in credentials)") from None
    return parts


def _file_store(parts: SplitResult, base_dir: Path | None) -> LocalStore:
    if parts.netloc not in ("", "localhost"):
        raise _bad("a file: URL names no host; use file:relative/dir or file:///absolute/dir")
    if parts.query or parts.fragment:
        raise _bad("a file: URL takes no query or fragment")
    path = Path(unquote(parts.path))
    if not parts.path or "\x00" in str(path):
        raise _bad("a file: URL needs a directory, e.g. file:var/objects")
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return LocalStore(path)


def _flag(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _bad(f"query parameter {name} must be true or false")


def _s3_store(parts: SplitResult) -> MinioStore:
    if parts.fragment:
        raise _bad("an s3:// URL takes no fragment (percent-encode '#' in credentials)")
    _, at, hostport = parts.netloc.rpartition("@")
    if not at or parts.username is None or parts.password is None:
        raise _bad("an s3:// URL needs ACCESS:SECRET@ before the host")
    access_key, secret_key = unquote(parts.username), unquote(parts.password)
    if not access_key or not secret_key:
        raise _bad("an s3:// URL needs a non-empty access key and secret key")
    if not parts.hostname:
        raise _bad("an s3:// URL needs a host[:port] after the credentials")
    bucket = parts.path.strip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise _bad("an s3:// URL needs a bucket name of 3-63 characters a-z 0-9 . - as its path")
    secure, region = True, None
    seen: set[str] = set()
    try:
        params = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise _bad("the query string cannot be parsed") from None
    for name, value in params:
        if name in seen:
            raise _bad(f"query parameter {name} given twice")
        if name == "secure":
            secure = _flag(name, value)
        elif name == "region":
            region = value or None
        else:
            raise _bad("unknown query parameter; an s3:// URL takes secure= and region=")
        seen.add(name)
    try:
        return MinioStore(hostport, access_key, secret_key, bucket, secure=secure, region=region)
    except ValueError:
        raise _bad("the host or port is not valid") from None


def open_store(url: str, *, base_dir: Path | None = None) -> ObjectStore:
    """The store a URL names; relative ``file:`` paths resolve against ``base_dir``.

    ``base_dir`` defaults to the current directory at call time. Raises
    ValueError (never echoing the URL) if the URL is malformed.
    """
    scheme, colon, _ = url.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme):
        raise _bad("expected file:DIR or s3://ACCESS:SECRET@HOST:PORT/BUCKET")
    parts = _split(url)
    if parts.scheme == "file":
        return _file_store(parts, base_dir)
    if parts.scheme == "s3":
        return _s3_store(parts)
    raise _bad("unsupported scheme; expected file: or s3://")
