"""A MinIO / S3 object store through the ``minio`` SDK: the production store.

This is the only module of camgrid that imports ``minio``. The SDK is
blocking, so every call runs in a small thread pool owned by the store (the
event loop never waits on a socket), and its HTTP client is a urllib3
``PoolManager`` with short timeouts and few retries: against a dead server a
call fails with :class:`StoreUnavailable` within seconds instead of the SDK's
default of five-minute timeouts and five retries.

Error mapping: connection and timeout errors (urllib3 ``HTTPError``,
``MaxRetryError``), 5xx answers and OS socket errors become
``StoreUnavailable``; ``NoSuchKey`` becomes ``ObjectMissing``; every other S3
error becomes ``StoreError``. Messages never contain credentials.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from catalog.store.base import (
    ObjectInfo,
    ObjectMissing,
    StoreError,
    StoreUnavailable,
    check_key,
    check_prefix,
)

__all__ = ["MinioStore"]

T = TypeVar("T")

_LIST_BATCH: Final = 1000
_MISSING_CODES: Final = frozenset({"NoSuchKey", "NoSuchBucket", "NoSuchObject"})
_MAX_PRESIGN: Final = timedelta(days=7)  # the S3 SigV4 limit


class MinioStore:
    """An :class:`~catalog.store.base.ObjectStore` on one bucket of an S3 server.

    The bucket is created on first write if it is missing; call
    :meth:`ensure_bucket` at start-up to fail early instead.
    """

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = True,
        region: str | None = None,
        max_workers: int = 8,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        retries: int = 2,
    ) -> None:
        self._endpoint = endpoint
        self._bucket = bucket
        self._region = region
        # One connection per worker thread; connect errors and 5xx retried
        # `retries` times with 0.2 s, 0.4 s... backoff; a read timeout retried
        # once at most (a stale keep-alive connection shows up as a read error).
        self._http = urllib3.PoolManager(
            num_pools=4,
            maxsize=max_workers,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(
                total=retries,
                connect=retries,
                read=min(retries, 1),
                status=retries,
                backoff_factor=0.2,
                status_forcelist=(500, 502, 503, 504),
            ),
            cert_reqs="CERT_REQUIRED",
        )
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=self._http,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="minio")
        self._closed = False

    @property
    def bucket(self) -> str:
        """The bucket objects go to."""
        return self._bucket

    def __repr__(self) -> str:
        return f"MinioStore(endpoint={self._endpoint!r}, bucket={self._bucket!r})"

    async def _run(self, action: str, key: str, fn: Callable[[], T]) -> T:
        """Run a blocking SDK call in the store's pool, mapping its errors."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise ObjectMissing(f"no object {key!r} in bucket {self._bucket!r}") from exc
            raise StoreError(f"{action} {key!r}: {exc.code}: {exc.message}") from exc
        except ServerError as exc:
            raise StoreUnavailable(
                f"{action} {key!r}: HTTP {exc.status_code} from {self._endpoint}"
            ) from exc
        except InvalidResponseError as exc:
            # A non-S3 answer, typically a proxy's error page while MinIO is down.
            status = getattr(exc, "_code", 0)
            cls = StoreUnavailable if isinstance(status, int) and status >= 500 else StoreError
            raise cls(f"{action} {key!r}: unexpected answer from {self._endpoint}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(
                f"{action} {key!r}: {self._endpoint} unreachable: {type(exc).__name__}"
            ) from exc
        except MinioException as exc:
            raise StoreError(f"{action} {key!r}: {exc}") from exc

    # -- blocking halves --------------------------------------------------------------

    def _ensure_bucket_sync(self) -> None:
        if self._client.bucket_exists(self._bucket):
            return
        try:
            self._client.make_bucket(self._bucket, location=self._region)
        except S3Error as exc:
            if exc.code != "BucketAlreadyOwnedByYou":  # lost a race with ourselves
                raise

    def _put_sync(self, key: str, data: bytes, content_type: str) -> None:
        def put() -> None:
            self._client.put_object(
                self._bucket, key, io.BytesIO(data), len(data), content_type=content_type
            )

        try:
            put()
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
            self._ensure_bucket_sync()
            put()

    def _get_sync(self, key: str) -> bytes:
        response = self._client.get_object(self._bucket, key)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def _stat_sync(self, key: str) -> ObjectInfo | None:
        try:
            obj = self._client.stat_object(self._bucket, key)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return None
            raise
        modified = obj.last_modified or datetime.fromtimestamp(0, UTC)
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=UTC)
        return ObjectInfo(key=key, size=int(obj.size or 0), etag=obj.etag or "", modified=modified)

    def _list_sync(self, prefix: str) -> Iterator[str]:
        try:
            for obj in self._client.list_objects(
                self._bucket, prefix=prefix or None, recursive=True
            ):
                name = obj.object_name
                if name is None or obj.is_dir:
                    continue
                try:
                    yield check_key(name)
                except ValueError:
                    continue  # an object camgrid did not write and could not address
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise

    # -- the ObjectStore protocol ----------------------------------------------------

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist."""
        await self._run("create bucket", self._bucket, self._ensure_bucket_sync)

    async def put(
        self, key: str, data: bytes, content_type: str = "image/jpeg", *, durable: bool = True
    ) -> None:
        """Upload ``data`` under ``key`` (one PUT; S3 makes it atomic).

        S3 answers a PUT once the object is stored durably, so ``durable`` changes nothing.
        """
        check_key(key)
        payload = bytes(data)
        await self._run("put", key, lambda: self._put_sync(key, payload, content_type))

    async def put_snapshot(
        self, image_key: str, image: bytes, thumb_key: str, thumb: bytes
    ) -> None:
        """Upload the picture and its thumbnail side by side (two PUTs)."""
        check_key(image_key)  # neither is sent if either key is refused
        check_key(thumb_key)
        await asyncio.gather(self.put(image_key, image), self.put(thumb_key, thumb, durable=False))

    async def get(self, key: str) -> bytes:
        """The object's bytes; ObjectMissing if there is none."""
        check_key(key)
        return await self._run("get", key, lambda: self._get_sync(key))

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size, etag (MD5 for single-part uploads) and time, or None if missing."""
        check_key(key)
        return await self._run("stat", key, lambda: self._stat_sync(key))

    async def delete(self, key: str) -> None:
        """Remove the object; S3 answers a delete of a missing key with success."""
        check_key(key)
        try:
            await self._run("delete", key, lambda: self._client.remove_object(self._bucket, key))
        except ObjectMissing:
            return

    async def presign(self, key: str, expires: timedelta) -> str | None:
        """A presigned GET URL valid for ``expires`` (1 s to 7 days)."""
        check_key(key)
        if not timedelta(seconds=1) <= expires <= _MAX_PRESIGN:
            raise ValueError(f"presign: expires must be between 1 s and 7 days, got {expires}")
        return await self._run(
            "presign",
            key,
            lambda: self._client.presigned_get_object(self._bucket, key, expires=expires),
        )

    async def iter_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every key starting with ``prefix``, in byte order, fetched a page at a time.

        Objects whose names are not valid keys are skipped.
        """
        check_prefix(prefix)
        keys = self._list_sync(prefix)
        while True:
            batch: list[str] = await self._run(
                "list", prefix, lambda: list(itertools.islice(keys, _LIST_BATCH))
            )
            for key in batch:
                yield key
            if len(batch) < _LIST_BATCH:
                return

    async def close(self) -> None:
        """Wait for running calls, stop the threads and drop pooled connections."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._http.clear()
