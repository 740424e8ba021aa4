"""The ObjectStore contract, run alike on LocalStore and on MinioStore over a real S3 server.

The S3 server is moto's server mode on a loopback socket (``s3_server``),
reached through the ``minio`` SDK exactly as production reaches MinIO.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from catalog.store import (
    InvalidKey,
    LocalStore,
    MinioStore,
    ObjectMissing,
    ObjectStore,
    StoreError,
    StoreUnavailable,
    open_store,
)
from tests.fixtures.s3server import S3Server

KEY = "img/chengguan/43020300001320000001/2024/02/29/180304000567-0123456789ab.jpg"
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(300_000) + b"\xff\xd9"


@pytest.fixture(params=["local", "minio"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> AsyncIterator[ObjectStore]:
    """Each contract test runs once per store kind, on a fresh root or bucket."""
    if request.param == "local":
        opened = open_store("file:objects", base_dir=tmp_path)
    else:
        opened = open_store(s3_server.url(s3_bucket))
    assert isinstance(opened, ObjectStore)
    yield opened
    await opened.close()


def tree(root: Path) -> list[str]:
    """Every file and directory under ``root``, relative and sorted (directories end in /)."""
    return sorted(
        str(p.relative_to(root)) + ("/" if p.is_dir() and not p.is_symlink() else "")
        for p in root.rglob("*")
    )


async def keys_of(store: ObjectStore, prefix: str = "") -> list[str]:
    return [key async for key in store.iter_keys(prefix)]


# -- the contract ---------------------------------------------------------------------


@pytest.mark.parametrize("data", [JPEG, b"", bytes(range(256)) * 3])
async def test_put_then_get_returns_identical_bytes(store: ObjectStore, data: bytes) -> None:
    await store.put(KEY, data)
    assert await store.get(KEY) == data


async def test_put_replaces(store: ObjectStore) -> None:
    await store.put(KEY, b"first")
    await store.put(KEY, b"second", content_type="application/octet-stream")
    assert await store.get(KEY) == b"second"
    assert await keys_of(store) == [KEY]


async def test_stat(store: ObjectStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    await store.put(KEY, JPEG)
    info = await store.stat(KEY)
    assert info is not None
    assert info.key == KEY
    assert info.size == len(JPEG)
    assert info.etag == hashlib.md5(JPEG).hexdigest()
    assert info.modified.tzinfo is not None
    assert before <= info.modified <= datetime.now(UTC) + timedelta(seconds=5)


async def test_missing_objects(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        await store.get(KEY)
    assert await store.stat(KEY) is None
    await store.put("img/a/b.jpg", b"x")
    with pytest.raises(ObjectMissing):
        await store.get("img/a")  # a "directory" is not an object
    assert await store.stat("img/a") is None


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put(KEY, b"x")
    await store.delete(KEY)
    with pytest.raises(ObjectMissing):
        await store.get(KEY)
    await store.delete(KEY)
    await store.delete("never/there.jpg")
    assert await keys_of(store) == []


async def test_iter_keys_with_prefix_in_byte_order(store: ObjectStore) -> None:
    keys = [
        "img/a/2.jpg",
        "img/a/1.jpg",
        "img/a-x/1.jpg",
        "img/a.x/1.jpg",
        "img/ab/1.jpg",
        "img/b/1.jpg",
        "img/B/1.jpg",
        "thumb/a/1.jpg",
        "img.jpg",
    ]
    await asyncio.gather(*(store.put(key, key.encode()) for key in keys))
    assert await keys_of(store) == sorted(keys)
    assert await keys_of(store, "img/a/") == ["img/a/1.jpg", "img/a/2.jpg"]
    assert await keys_of(store, "img/a") == [
        "img/a-x/1.jpg",
        "img/a.x/1.jpg",
        "img/a/1.jpg",
        "img/a/2.jpg",
        "img/ab/1.jpg",
    ]
    assert await keys_of(store, "img") == sorted(k for k in keys if k.startswith("img"))
    assert await keys_of(store, "thumb/a/1.jpg") == ["thumb/a/1.jpg"]
    assert await keys_of(store, "nothing/") == []
    assert await keys_of(store, "img/a/1.jpgx") == []


async def test_iter_keys_pages_past_a_thousand(store: ObjectStore) -> None:
    keys = sorted(f"img/d/c/2024/01/01/{i:06d}-x.jpg" for i in range(1005))
    semaphore = asyncio.Semaphore(16)

    async def put(key: str) -> None:
        async with semaphore:
            await store.put(key, b"x")

    await asyncio.gather(*(put(key) for key in keys))
    assert await keys_of(store, "img/d/") == keys
    # Abandoning the iteration early is fine.
    async for key in store.iter_keys():
        assert key == keys[0]
        break


async def test_put_snapshot_stores_the_picture_and_its_thumbnail(store: ObjectStore) -> None:
    thumb_key = "thumb" + KEY[3:]
    await store.put_snapshot(KEY, JPEG, thumb_key, b"thumbnail bytes")
    assert await store.get(KEY) == JPEG
    assert await store.get(thumb_key) == b"thumbnail bytes"
    assert await keys_of(store) == [KEY, thumb_key]


@pytest.mark.parametrize("hostile", ["image", "thumb"])
async def test_put_snapshot_with_a_hostile_key_stores_nothing(
    store: ObjectStore, hostile: str
) -> None:
    keys = {"image": KEY, "thumb": "thumb" + KEY[3:]}
    keys[hostile] = "img/../../escape.jpg"
    with pytest.raises(InvalidKey):
        await store.put_snapshot(keys["image"], JPEG, keys["thumb"], b"thumbnail bytes")
    assert await keys_of(store) == []


@pytest.mark.parametrize(
    "key", ["../escape.jpg", "/abs.jpg", "a/../../b", "a%2Fb", "a\x00b", "a\\b", "", "a//b"]
)
async def test_hostile_keys_are_refused_by_every_method(store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, b"x")
    with pytest.raises(InvalidKey):
        await store.get(key)
    with pytest.raises(InvalidKey):
        await store.stat(key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    with pytest.raises(InvalidKey):
        await store.presign(key, timedelta(minutes=1))
    with pytest.raises(InvalidKey):
        await keys_of(store, key + "/..")


async def test_presign(store: ObjectStore) -> None:
    await store.put(KEY, JPEG)
    url = await store.presign(KEY, timedelta(minutes=5))
    if isinstance(store, LocalStore):
        assert url is None
        return
    assert url is not None
    assert url.startswith("http://127.0.0.1:")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        assert await response.read() == JPEG


async def test_closed_store_refuses_calls(store: ObjectStore) -> None:
    await store.close()
    await store.close()  # idempotent
    if isinstance(store, MinioStore):
        with pytest.raises(StoreError, match="closed"):
            await store.get(KEY)


# -- MinioStore -------------------------------------------------------------------------


async def test_bucket_is_created_on_first_put(s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    assert not client.bucket_exists(s3_bucket)
    store = open_store(s3_server.url(s3_bucket))
    try:
        assert await keys_of(store) == []  # listing a missing bucket is empty
        assert await store.stat(KEY) is None
        with pytest.raises(ObjectMissing):
            await store.get(KEY)
        await store.delete(KEY)
        await store.put(KEY, b"x")
        assert client.bucket_exists(s3_bucket)
        assert await store.get(KEY) == b"x"
    finally:
        await store.close()


async def test_ensure_bucket_is_idempotent(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(s3_server.url(s3_bucket))
    assert isinstance(store, MinioStore)
    try:
        await store.ensure_bucket()
        await store.ensure_bucket()
        assert s3_server.client().bucket_exists(s3_bucket)
    finally:
        await store.close()


async def test_wrong_presign_expiry_is_a_value_error(s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(s3_server.url(s3_bucket))
    try:
        for expires in (timedelta(0), timedelta(days=8)):
            with pytest.raises(ValueError, match="expires"):
                await store.presign(KEY, expires)
    finally:
        await store.close()


@pytest.fixture
def refused_endpoint() -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A loopback port that accepts connections (in the backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_unreachable_server_is_store_unavailable_within_seconds(
    refused_endpoint: str,
) -> None:
    # Default timeouts and retries, as production builds it.
    store = open_store(f"s3://ak:Sup3rS3cret@{refused_endpoint}/bucket?secure=false")
    try:
        for call in (
            lambda: store.put(KEY, b"x"),
            lambda: store.get(KEY),
            lambda: store.stat(KEY),
            lambda: keys_of(store),
        ):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="unreachable") as caught:
                await call()
            assert time.monotonic() - started < 5
            assert "Sup3rS3cret" not in str(caught.value)
    finally:
        await store.close()


async def test_silent_server_is_store_unavailable_after_the_read_timeout(
    silent_endpoint: str,
) -> None:
    store = MinioStore(
        silent_endpoint, "ak", "sk", "bucket", secure=False, region="us-east-1", read_timeout=1.0
    )
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get(KEY)
        # One retry of the read: about 2 s, well under the SDK default of minutes.
        assert time.monotonic() - started < 5
    finally:
        await store.close()


# -- LocalStore -------------------------------------------------------------------------


async def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await asyncio.gather(*(store.put(KEY, os.urandom(1000)) for _ in range(20)))
    assert [p for p in tree(tmp_path) if not p.endswith("/")] == [KEY]
    assert len(await store.get(KEY)) == 1000


async def test_local_listing_skips_temporary_and_foreign_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    await store.put("img/a/1.jpg", b"x")
    (tmp_path / "img" / "a" / "1.jpg.~0123abcd.tmp").write_bytes(b"half")
    (tmp_path / "img" / "a" / "with space.jpg").write_bytes(b"junk")
    (tmp_path / "img" / "a" / "empty-dir").mkdir()
    (tmp_path / "img" / "link.jpg").symlink_to(tmp_path / "img" / "a" / "1.jpg")
    assert await keys_of(store) == ["img/a/1.jpg"]


async def test_local_delete_prunes_empty_directories(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    await store.put("img/a/b/1.jpg", b"x")
    await store.put("img/a/2.jpg", b"x")
    await store.delete("img/a/b/1.jpg")
    assert tree(tmp_path) == ["img/", "img/a/", "img/a/2.jpg"]
    await store.delete("img/a/2.jpg")
    assert tree(tmp_path) == []
    await store.put("img/a/b/1.jpg", b"again")  # directories come back as needed
    assert await store.get("img/a/b/1.jpg") == b"again"


async def test_local_put_onto_a_directory_is_a_store_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=False)
    await store.put("img/a/1.jpg", b"x")
    with pytest.raises(StoreError, match="cannot write"):
        await store.put("img/a", b"x")
    with pytest.raises(StoreError, match="cannot write"):
        await store.put("img/a/1.jpg/2.jpg", b"x")


async def test_local_put_snapshot_names_the_key_it_could_not_write(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, fsync=True)
    await store.put("img/a/1.jpg", b"x")
    with pytest.raises(StoreError, match="cannot write 'img/a'"):
        await store.put_snapshot("img/a", b"picture", "thumb/a/1.jpg", b"thumbnail")
    assert not (tmp_path / "thumb").exists()  # the picture goes first: nothing after it
    await store.put("thumb/a/1.jpg", b"x")
    with pytest.raises(StoreError, match=re.escape("cannot write 'thumb/a/1.jpg/2.jpg'")):
        await store.put_snapshot("img/b/1.jpg", b"picture", "thumb/a/1.jpg/2.jpg", b"thumb")
    assert await store.get("img/b/1.jpg") == b"picture"
    assert [p for p in tree(tmp_path) if "~" in p] == []


@pytest.mark.parametrize("fsync", [True, False])
async def test_local_concurrent_puts_and_deletes_in_one_directory(
    tmp_path: Path, fsync: bool
) -> None:
    store = LocalStore(tmp_path, fsync=fsync)

    async def churn(i: int) -> None:
        key = f"img/d/c/{i % 3}.jpg"
        for _ in range(20):
            await store.put(key, b"x")
            await store.delete(key)

    await asyncio.gather(*(churn(i) for i in range(12)))
    assert tree(tmp_path) == []
    await store.put("img/d/c/final.jpg", b"ok")
    assert await keys_of(store) == ["img/d/c/final.jpg"]


async def test_local_concurrent_puts_into_the_same_new_folders(tmp_path: Path) -> None:
    # every put makes (or finds half made by another) the same new day folders
    store = LocalStore(tmp_path)
    keys = [f"img/d/cam-{i % 4}/2024/02/29/{i:03d}.jpg" for i in range(24)]
    await asyncio.gather(*(store.put(key, key.encode()) for key in keys))
    assert await keys_of(store) == sorted(keys)
    assert [await store.get(key) for key in keys] == [key.encode() for key in keys]
    assert [p for p in tree(tmp_path) if "~" in p] == []
