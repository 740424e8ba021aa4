"""Image routes: a snapshot's image or thumbnail, and a camera's newest image.

Every image served first writes an audit row (who, which, from where) and
commits it; only then do the bytes (or, with presigning, a 302 to the store)
go out. A stored image never changes, so `/snapshots/{id}.jpg` is cacheable
for a year; `latest.jpg` changes and is revalidated on every use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from aiohttp import web

from api.context import CATALOG, IDENTITY, SETTINGS, STORE
from api.filters import SIZE
from api.params import Args
from api.problems import Problem
from api.routes.cameras import UID
from api.routes.snapshots import SNAPSHOT_ID, snapshot_id
from api.routing import Answer, Route
from catalog.models import Snapshot
from catalog.queries.audit import record_access
from catalog.queries.cameras import get_camera
from catalog.queries.snapshots import get_snapshot, latest_snapshot
from catalog.store import ObjectMissing

__all__ = ["PRESIGNED_FOR", "ROUTES"]

#: How long a presigned store URL handed out in a 302 stays valid.
PRESIGNED_FOR: Final = timedelta(minutes=5)
IMMUTABLE: Final = "private, max-age=31536000, immutable"
REVALIDATE: Final = "private, no-cache"


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def _serve(
    request: web.Request,
    snapshot: Snapshot,
    *,
    thumb: bool,
    cache_control: str,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Fetch (or presign), write the audit row, then answer with the image."""
    store = request.app[STORE]
    key = snapshot.thumb_key if thumb else snapshot.object_key
    url = None
    if request.app[SETTINGS].presign_images:
        url = await store.presign(key, PRESIGNED_FOR)
    body = b""
    if url is None:
        try:
            body = await store.get(key)
        except ObjectMissing:
            what = "thumbnail" if thumb else "image"
            raise Problem(404, f"the {what} of snapshot {snapshot.id} is missing") from None
    identity = request[IDENTITY]
    async with request.app[CATALOG].sessions() as session, session.begin():
        await record_access(
            session,
            principal=identity.name,
            role=identity.role,
            action="view_thumb" if thumb else "view_image",
            camera_uid=snapshot.camera_uid,
            snapshot_id=snapshot.id,
            client=request.remote or "",
        )
    if url is not None:
        # Never cached: the URL expires, and every view must pass the audit.
        redirect = {**(headers or {}), "Location": url, "Cache-Control": "private, no-store"}
        return web.Response(status=302, headers=redirect)
    etag = f'"{snapshot.sha256}-thumb"' if thumb else f'"{snapshot.sha256}"'
    answer = {**(headers or {}), "Cache-Control": cache_control, "ETag": etag}
    if _etag_matches(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=answer)
    return web.Response(body=body, content_type="image/jpeg", headers=answer)


async def snapshot_image(request: web.Request, args: Args) -> web.StreamResponse:
    """A snapshot's image, or its thumbnail with `size=thumb`."""
    async with request.app[CATALOG].sessions() as session:
        snapshot = await get_snapshot(session, snapshot_id(args))
    if snapshot is None:
        raise Problem(404, f"no snapshot {snapshot_id(args)}")
    thumb = args.string("size") == "thumb"
    return await _serve(request, snapshot, thumb=thumb, cache_control=IMMUTABLE)


async def latest_image(request: web.Request, args: Args) -> web.StreamResponse:
    """A camera's newest stored image, its quality flags in `X-Snapshot-Flags`."""
    uid = args.string("uid")
    assert uid is not None
    async with request.app[CATALOG].sessions() as session:
        if await get_camera(session, uid) is None:
            raise Problem(404, f"no camera {uid!r}")
        snapshot = await latest_snapshot(session, uid)
    if snapshot is None:
        raise Problem(404, f"camera {uid!r} has no snapshot yet")
    headers = {
        "X-Snapshot-Flags": ",".join(snapshot.flags or []),
        "X-Snapshot-Id": str(snapshot.id),
    }
    thumb = args.string("size") == "thumb"
    return await _serve(request, snapshot, thumb=thumb, cache_control=REVALIDATE, headers=headers)


_IMAGE_HEADERS: Final = {
    "Cache-Control": IMMUTABLE,
    "ETag": "the image's sha256 (thumbnails: sha256-thumb), quoted",
}

ROUTES: Final = (
    Route(
        "GET",
        "/api/v1/cameras/{uid}/latest.jpg",
        latest_image,
        "A camera's newest image",
        params=(UID, SIZE),
        answers={
            200: Answer(
                "The JPEG",
                {"type": "string", "contentMediaType": "image/jpeg"},
                media_type="image/jpeg",
                headers={
                    "X-Snapshot-Flags": "the image's quality flags, comma-separated (may be empty)",
                    "X-Snapshot-Id": "the snapshot's id",
                    "Cache-Control": REVALIDATE,
                },
            ),
            302: Answer("With presigning: the store's short-lived URL (after the audit row)"),
        },
        description="Writes an audit row before answering.",
        problems=(404, 503),
        tag="images",
    ),
    Route(
        "GET",
        "/api/v1/snapshots/{id}.jpg",
        snapshot_image,
        "A snapshot's image or thumbnail",
        params=(SNAPSHOT_ID, SIZE),
        answers={
            200: Answer(
                "The JPEG",
                {"type": "string", "contentMediaType": "image/jpeg"},
                media_type="image/jpeg",
                headers=_IMAGE_HEADERS,
            ),
            302: Answer("With presigning: the store's short-lived URL (after the audit row)"),
            304: Answer("Not modified (If-None-Match)"),
        },
        description="Writes an audit row before answering.",
        problems=(404, 503),
        tag="images",
    ),
)
