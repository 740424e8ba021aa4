"""The one function that builds object keys for snapshots and thumbnails.

``{kind}/{department}/{camera id}/{YYYY}/{MM}/{DD}/{HHMMSSffffff}-{sha256[:12]}.jpg``
with the time in UTC, so keys sort by capture time within a camera and the
same image captured twice in one microsecond maps to one key.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from catalog.store.base import InvalidKey, check_key

__all__ = ["SnapshotKind", "snapshot_key", "snapshot_keys"]

SnapshotKind = Literal["img", "thumb"]
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def snapshot_key(
    kind: SnapshotKind,
    department: str,
    camera_id: str,
    captured_at: datetime,
    sha256_hex: str,
) -> str:
    """The object key of a snapshot image (``img``) or its thumbnail (``thumb``).

    ``captured_at`` must be timezone-aware (it is converted to UTC);
    ``sha256_hex`` must be 64 hex digits (upper case is folded). Department
    and camera ids must each be one valid key segment. Raises InvalidKey
    (a ValueError) otherwise.
    """
    if kind not in ("img", "thumb"):
        raise InvalidKey(f"snapshot kind must be 'img' or 'thumb', not {kind!r}")
    if captured_at.tzinfo is None or captured_at.utcoffset() is None:
        raise InvalidKey("captured_at must be timezone-aware, got a naive datetime")
    digest = sha256_hex.lower()
    if _SHA256_HEX.fullmatch(digest) is None:
        raise InvalidKey(f"sha256_hex must be 64 hex digits, got {sha256_hex[:80]!r}")
    for label, value in (("department", department), ("camera_id", camera_id)):
        if not value or "/" in value:
            raise InvalidKey(f"{label} must be one non-empty key segment, got {value[:80]!r}")
    at = captured_at.astimezone(UTC)
    key = (
        f"{kind}/{department}/{camera_id}/{at.year:04d}/{at.month:02d}/{at.day:02d}/"
        f"{at.hour:02d}{at.minute:02d}{at.second:02d}{at.microsecond:06d}-{digest[:12]}.jpg"
    )
    return check_key(key)


def snapshot_keys(
    department: str, camera_id: str, captured_at: datetime, sha256_hex: str
) -> tuple[str, str]:
    """The keys of a snapshot's image and of its thumbnail, checked once for both."""
    image = snapshot_key("img", department, camera_id, captured_at, sha256_hex)
    return image, "thumb" + image[3:]
