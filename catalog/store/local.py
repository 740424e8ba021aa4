"""A local-filesystem object store: the embedded default (``file:var/objects``).

An object lives at ``root/<key>``. Writes go to a temporary file in the
target's directory and are renamed over the target with ``os.replace``, so a
reader sees the old object or the new one, never half a file, and a crash
leaves at worst a temporary file behind. Temporary names contain ``~``, which
no valid key can, so they are never listed as keys.

What survives what (``fsync=True``, the default and what ``open_store`` gives):

* A process crash (kill -9, OOM, a bug) at any point: every ``put`` that
  returned is whole under its key, because the rename happened before ``put``
  returned, and the kernel keeps it whatever the process does next. Ingest
  commits a snapshot's row only after both its puts returned, so no row ever
  points at a missing object; a crash between put and commit leaves an orphan
  object that ``camgrid fsck`` finds. This needs no fsync at all.
* A power cut or kernel crash: a durable ``put`` (the default) that returned
  survives too, because the file's data is synced (``fdatasync``) before the
  rename, the directory is fsynced after it, and a directory that the put had
  to create is fsynced into its parent. That is what the syncs buy, and what the ingest spool
  relies on when it deletes a spooled picture once it is stored. The parents
  of new directories are synced last, after the file's data and the rename:
  on a journalling filesystem each sync commits everything before it, so a
  put into new day folders costs two journal commits, not one per folder
  (a camera's first picture of a day makes three or four folders per object).
  Their price, measured on this machine's disk (ext4): about 0.1 ms of CPU for
  the ``fdatasync`` and 0.06 ms per directory sync, in a worker thread; making
  the folders themselves (inode allocation) costs more, 0.07 ms per ``mkdir``.
  In wall time 1-3 ms for a snapshot's two synced puts on a quiet disk, 5-15 ms while
  other processes write to the same disk (p50 5 ms, p90 14 ms, measured with
  the ingest benchmark's farm at 60 snapshots/s with new day folders).

``fsync=False`` keeps the first guarantee and gives up the second: after a
power cut, recently put objects may be missing or empty while their rows
(committed by a database that does sync) exist. Tests use it.

``put(..., durable=False)`` gives up the second guarantee for one object: its
file is neither synced nor its rename, and it costs what a put with
``fsync=False`` costs (a new directory's name is still synced, see ``_write``).
Ingest stores thumbnails so: a thumbnail is rebuilt from its durable image when
it is found missing or cut short (``catalog.store.thumbs``), and the syncs of a
second object were about 0.4 ms of CPU per snapshot (fdatasync and directory
fsync of a 15 kB file, measured here under load from other work).

Every filesystem call runs in a worker thread (``asyncio.to_thread``), even
for small files. Measured on this machine's disk for a 200 kB JPEG with a warm page
cache: a write with fsync takes ~1 ms inline or in a thread alike; a read
takes 0.04 ms inline against 0.16-0.18 ms through the thread hop. Inlining
reads would win those 0.13 ms only while the file is cached: a cold read
from a spinning disk or a network filesystem blocks for milliseconds, and
inline that would stall every camera and request on the event loop. The
hop is the price of a bounded worst case.

Unlike S3, a filesystem cannot hold both ``a/b`` and ``a/b/c``; keys built by
:func:`catalog.store.keys.snapshot_key` never collide that way.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from catalog.store.base import (
    ObjectInfo,
    ObjectMissing,
    StoreError,
    StoreUnavailable,
    check_key,
    check_prefix,
)

__all__ = ["LocalStore"]

_SEGMENT_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
)
# Errors that mean "the disk cannot take writes now" rather than "this call is wrong".
_UNAVAILABLE_ERRNOS: Final = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.ENOMEM}
)
_LIST_BATCH: Final = 1000
_CREATE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_TMP_NUMBERS: Final = itertools.count()
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


def _store_error(exc: OSError, action: str, key: str) -> StoreError:
    message = f"local store: cannot {action} {key!r}: {exc.strerror or exc}"
    if exc.errno in _UNAVAILABLE_ERRNOS:
        return StoreUnavailable(message)
    return StoreError(message)


def _fdatasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync
    sync(fd)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` at ``fd`` (a write to a file may stop short, e.g. on a signal)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: str) -> None:
    """fsync a directory, so that the names created in it survive a power cut."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _is_key_segment(name: str) -> bool:
    return bool(name) and name not in (".", "..") and set(name) <= _SEGMENT_CHARS


class LocalStore:
    """An :class:`~catalog.store.base.ObjectStore` on a local directory tree."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self._root = Path(root).absolute()
        self._root_name = os.fspath(self._root)
        # fsync makes "put returned" mean "on disk, even across a power cut"
        # (see the module docstring); the ingest spool relies on that.
        self._fsync = fsync

    @property
    def root(self) -> Path:
        """The directory objects are stored under."""
        return self._root

    def __repr__(self) -> str:
        return f"LocalStore({str(self._root)!r})"

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_key(key).split("/"))

    def _file(self, key: str) -> str:
        """The file of ``key``: as :meth:`_path`, without making a ``Path`` of it."""
        return os.path.join(self._root_name, *check_key(key).split("/"))

    # -- blocking halves, run in a worker thread ---------------------------------

    def _write(self, target: str, data: bytes, sync: bool) -> None:
        directory = os.path.dirname(target)
        tmp_fd, tmp = -1, ""
        made: list[str] = []  # directories whose entries changed: synced below, once
        make_dirs = False  # the directory almost always exists: try the open first
        for attempt in range(6):  # the first try does not make directories
            # unique within this process by the counter, across processes by the pid
            # (a name left by a dead process of the same pid fails O_EXCL: next one)
            tmp = f"{target}.~{os.getpid()}-{next(_TMP_NUMBERS)}.tmp"
            try:
                if make_dirs:
                    self._make_dir(Path(directory), made)
                tmp_fd = os.open(tmp, _CREATE_FLAGS, 0o644)
                break
            except (FileNotFoundError, FileExistsError):
                # No directory yet, or a concurrent delete pruned a (then empty)
                # one between mkdir and open, or inside mkdir itself (which then
                # reports FileExistsError): make it again. A file where a
                # directory should be fails the same way every time and is raised.
                make_dirs = True
                if attempt == 5:
                    raise
        try:
            try:
                _write_all(tmp_fd, data)
                if sync:
                    _fdatasync(tmp_fd)  # the data and the size a reader needs; not the times
            finally:
                os.close(tmp_fd)
            os.replace(tmp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        if sync:
            # Make the rename durable, then the names of the directories this put
            # made, each in its parent. Synced here, after the file's data rather
            # than after each mkdir: on a journalling filesystem the first sync
            # commits every change made so far, and the later ones find nothing
            # left to commit (two commits for a put into new folders, not six). A
            # concurrent delete of the same key may already have pruned the
            # directory: nothing left to sync.
            _fsync_dir(directory)
        if self._fsync:
            # Even for a put that need not be durable: a durable put into the same
            # folder later finds it made and relies on its name being on disk. A
            # day's first put into a folder only, so rare.
            for changed in reversed(made):
                _fsync_dir(changed)

    def _write_all_of(self, writes: tuple[tuple[str, str, bytes, bool], ...]) -> None:
        """Several ``(key, file, data, sync)`` writes in one worker thread, in order."""
        for key, target, data, sync in writes:
            try:
                self._write(target, data, sync)
            except OSError as exc:
                raise _store_error(exc, "write", key) from exc

    def _make_dir(self, directory: Path, changed: list[str]) -> None:
        """``mkdir -p``; appends to ``changed`` each parent that gained an entry.

        The caller fsyncs those parents (with fsync on) before its put returns, so
        that a power cut cannot lose the day folder that a synced file is in.
        """
        try:
            directory.mkdir()
        except FileNotFoundError:
            if directory == self._root or self._root not in directory.parents:
                directory.mkdir(parents=True, exist_ok=True)  # the root itself
                return
            self._make_dir(directory.parent, changed)
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
            # Made by a concurrent put, which may not have synced its name yet:
            # sync it too rather than return before it is durable.
        changed.append(os.fspath(directory.parent))

    @staticmethod
    def _stat(path: Path, key: str) -> ObjectInfo | None:
        try:
            with path.open("rb") as f:
                st = os.fstat(f.fileno())
                digest = hashlib.file_digest(f, "md5").hexdigest()
        except _MISSING:
            return None
        modified = datetime.fromtimestamp(st.st_mtime, UTC)
        return ObjectInfo(key=key, size=st.st_size, etag=digest, modified=modified)

    def _unlink(self, path: Path) -> None:
        try:
            path.unlink()
        except _MISSING:
            return
        # Prune directories left empty, so that years of retention deletes do
        # not leave a skeleton of day folders. rmdir fails on a non-empty
        # directory, which is where we stop; _write copes with a directory
        # pruned under it.
        parent = path.parent
        while parent != self._root and self._root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    def _walk(self, directory: str, rel: str, prefix: str) -> Iterator[str]:
        """Keys under ``directory`` (whose key prefix is ``rel``) in byte order."""
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except _MISSING:
            return
        items: list[tuple[str, os.DirEntry[str], bool]] = []
        for entry in entries:
            if not _is_key_segment(entry.name):
                continue  # temporary files and anything that is not a key
            if entry.is_dir(follow_symlinks=False):
                items.append((entry.name + "/", entry, True))
            elif entry.is_file(follow_symlinks=False):
                items.append((entry.name, entry, False))
        # Sorting "name/" for directories among plain file names gives the
        # byte order of full keys, the order S3 lists in.
        items.sort(key=lambda item: item[0])
        for sort_name, entry, is_dir in items:
            key = rel + sort_name
            if is_dir:
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(entry.path, key, prefix)
            elif key.startswith(prefix):
                yield key

    # -- the ObjectStore protocol ------------------------------------------------

    async def put(
        self, key: str, data: bytes, content_type: str = "image/jpeg", *, durable: bool = True
    ) -> None:
        """Write ``data`` atomically under ``key`` (``content_type`` is not kept).

        With ``durable=False`` (or a store made with ``fsync=False``) nothing is synced.
        """
        target = self._file(key)
        try:
            await asyncio.to_thread(self._write, target, bytes(data), self._fsync and durable)
        except OSError as exc:
            raise _store_error(exc, "write", key) from exc

    async def put_snapshot(
        self, image_key: str, image: bytes, thumb_key: str, thumb: bytes
    ) -> None:
        """Put a picture durably and its thumbnail not, in one trip to a worker thread."""
        writes = (
            (image_key, self._file(image_key), bytes(image), self._fsync),
            (thumb_key, self._file(thumb_key), bytes(thumb), False),
        )
        await asyncio.to_thread(self._write_all_of, writes)

    async def get(self, key: str) -> bytes:
        """The object's bytes; ObjectMissing if there is none."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except _MISSING:
            raise ObjectMissing(f"no object {key!r}") from None
        except OSError as exc:
            raise _store_error(exc, "read", key) from exc

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size, MD5 etag and modification time, or None if missing."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(self._stat, path, key)
        except OSError as exc:
            raise _store_error(exc, "stat", key) from exc

    async def delete(self, key: str) -> None:
        """Remove the object if present, and any directories it leaves empty."""
        path = self._path(key)
        try:
            await asyncio.to_thread(self._unlink, path)
        except OSError as exc:
            raise _store_error(exc, "delete", key) from exc

    async def presign(self, key: str, expires: timedelta) -> str | None:
        """Always None: files are served by the API itself."""
        check_key(key)
        return None

    async def iter_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Every key starting with ``prefix``, in byte order, listed in batches."""
        check_prefix(prefix)
        # Start at the deepest directory the prefix names in full.
        rel = prefix.rpartition("/")[0]
        start = self._root.joinpath(*rel.split("/")) if rel else self._root
        # The generator holds no open directory between batches (each scandir
        # is read in full), so abandoning it early leaks nothing.
        keys = self._walk(str(start), rel + "/" if rel else "", prefix)
        while True:
            try:
                batch = await asyncio.to_thread(list, itertools.islice(keys, _LIST_BATCH))
            except OSError as exc:
                raise _store_error(exc, "list", prefix) from exc
            for key in batch:
                yield key
            if len(batch) < _LIST_BATCH:
                return

    async def close(self) -> None:
        """Nothing to release."""
