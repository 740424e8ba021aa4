"""Image routes: a snapshot's image or thumbnail, and a camera's newest image.

Every image served first writes an audit row (who, which, from where) and
commits it; only then do the bytes (or, with presigning, a 302 to the store)
go out. A stored image never changes, so `/snapshots/{id}.jpg` is cacheable
for a year; `latest.jpg` changes and is revalidated on every use.

Thumbnails are stored without a sync (`catalog.store.thumbs`): one that a power
cut lost or cut short is rebuilt from its image when asked for (in a worker
thread), stored again, and served; it has the bytes ingest made, so its ETag
holds. With presigning the store's URL is handed out unchecked: MinIO (the store
that presigns) keeps every put, thumbnails included.
"""

from __future__ import annotations

import asyncio
import logging
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
from catalog.store import ObjectMissing, ObjectStore, StoreError
from catalog.store.thumbs import ThumbnailError, looks_whole, rebuild_thumbnail

__all__ = ["PRESIGNED_FOR", "ROUTES"]

log = logging.getLogger(__name__)

#: How long a presigned store URL handed out in a 302 stays valid.
PRESIGNED_FOR: Final = timedelta(minutes=5)
IMMUTABLE: Final = "private, max-age=31536000, immutable"
REVALIDATE: Final = "private, no-cache"


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


async def _stored_thumbnail(store: ObjectStore, snapshot: Snapshot) -> bytes:
    """The snapshot's thumbnail; rebuilt from its image (and put again) if missing or not whole.

    Problem 404 when the image is missing too, or does not decode to its row's size.
    """
    try:
        body = await store.get(snapshot.thumb_key)
    except ObjectMissing:
        body = b""
    if looks_whole(body):
        return body
    missing = Problem(404, f"the thumbnail of snapshot {snapshot.id} is missing")
    try:
        image = await store.get(snapshot.object_key)
        thumb = await asyncio.to_thread(rebuild_thumbnail, image, snapshot.width, snapshot.height)
    except (ObjectMissing, ThumbnailError):
        raise missing from None
    try:
        await store.put(snapshot.thumb_key, thumb, durable=False)
    except StoreError as exc:  # served all the same; the next view rebuilds it again
        log.warning("could not store the rebuilt thumbnail of snapshot %d: %s", snapshot.id, exc)
    else:
        log.info("rebuilt the thumbnail of snapshot %d from its image", snapshot.id)
    return thumb


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
    if url is None and thumb:
        body = await _stored_thumbnail(store, snapshot)
    elif url is None:
        try:
            body = await store.get(key)
        except ObjectMissing:
            raise Problem(404, f"the image of snapshot {snapshot.id} is missing") from None
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
