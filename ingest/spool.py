"""The local spool: pictures captured while the object store is away.

When a put fails with `StoreUnavailable` the pipeline writes the picture, its
thumbnail and the metadata of its future row into one file here, and the
poll counts as a success. `replay_spool` uploads the files in capture order
once the store answers again, and only then writes the snapshot row (with the
original `captured_at`), so no row ever points at a missing object.

The spool's index is the files themselves: each item is one file written to a
temporary name, fsynced and renamed, so a crash leaves either a whole item or
a `.tmp` file that the next start removes. Names start with the capture time,
so sorting them is replay order. Once the replayer gets a chunk through, new
pictures go to the store directly again while the backlog drains.
`max_bytes` is a soft cap: past it the spool reports `full` (the scheduler
stops leasing cameras), but a picture already captured is still written,
because dropping it would lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from catalog.db import Catalog
from catalog.models import Camera, Snapshot
from catalog.polls import NewSnapshot
from catalog.store import ObjectStore, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

SUFFIX = ".spool"
_HEADER = struct.Struct(">III")  # metadata, picture and thumbnail lengths


@dataclass(frozen=True)
class SpooledSnapshot:
    """One spooled picture: whose it is, its future row, its bytes."""

    uid: str
    snapshot: NewSnapshot
    data: bytes
    thumb: bytes


def _encode(item: SpooledSnapshot) -> bytes:
    meta = asdict(item.snapshot)
    meta["captured_at"] = item.snapshot.captured_at.isoformat()
    meta["flags"] = list(item.snapshot.flags)
    meta["uid"] = item.uid
    head = json.dumps(meta, separators=(",", ":")).encode()
    return _HEADER.pack(len(head), len(item.data), len(item.thumb)) + head + item.data + item.thumb


def _decode(blob: bytes) -> SpooledSnapshot:
    n_meta, n_data, n_thumb = _HEADER.unpack_from(blob)
    start = _HEADER.size
    if len(blob) != start + n_meta + n_data + n_thumb:
        raise ValueError("spool item has the wrong length")
    meta: dict[str, Any] = json.loads(blob[start : start + n_meta])
    uid = meta.pop("uid")
    meta["captured_at"] = datetime.fromisoformat(meta["captured_at"])
    meta["flags"] = tuple(meta["flags"])
    data = blob[start + n_meta : start + n_meta + n_data]
    thumb = blob[start + n_meta + n_data :]
    return SpooledSnapshot(uid, NewSnapshot(**meta), data, thumb)


def _write_atomically(path: Path, blob: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        handle.write(blob)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def _unlink(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:  # another worker sharing this spool replayed it
        return 0
    return size


class Spool:
    """A folder of spooled snapshots, bounded (softly) by `max_bytes`."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        self._bytes = 0
        for path in root.iterdir():
            if path.suffix == ".tmp":  # a write a crash cut short: never acknowledged
                path.unlink(missing_ok=True)
            elif path.suffix == SUFFIX:
                self._bytes += path.stat().st_size
        self.changed = asyncio.Event()

    @property
    def bytes(self) -> int:
        """Bytes spooled now."""
        return self._bytes

    @property
    def full(self) -> bool:
        """Whether the spool has reached its cap (polling pauses)."""
        return self._bytes >= self.max_bytes

    def paths(self) -> list[Path]:
        """Spooled items, oldest capture first."""
        return sorted(p for p in self.root.iterdir() if p.suffix == SUFFIX)

    def __len__(self) -> int:
        return len(self.paths())

    async def put(self, item: SpooledSnapshot) -> Path:
        """Write one item durably; raises OSError if the disk refuses it."""
        stamp = item.snapshot.captured_at.strftime("%Y%m%dT%H%M%S%f")
        path = self.root / f"{stamp}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        blob = _encode(item)
        await asyncio.to_thread(_write_atomically, path, blob)
        self._bytes += len(blob)
        self.changed.set()
        return path

    async def load(self, path: Path) -> SpooledSnapshot:
        """Read one item back."""
        return _decode(await asyncio.to_thread(path.read_bytes))

    async def remove(self, path: Path) -> None:
        """Forget an item once its row is written."""
        size = await asyncio.to_thread(_unlink, path)
        self._bytes = max(0, self._bytes - size)


async def record_spooled(catalog: Catalog, items: Sequence[SpooledSnapshot]) -> None:
    """Write the rows of uploaded items, in order, in one transaction.

    An item whose row exists already (a replay after a crash between the row
    and the file's removal) is skipped, so a picture is never recorded twice.
    """
    async with catalog.sessions() as session, session.begin():
        keys = [item.snapshot.object_key for item in items]
        found = set(
            await session.scalars(select(Snapshot.object_key).where(Snapshot.object_key.in_(keys)))
        )
        newest: dict[str, tuple[datetime, Snapshot]] = {}
        for item in items:
            snap = item.snapshot
            if snap.object_key in found:
                continue
            row = Snapshot(
                camera_uid=item.uid,
                captured_at=snap.captured_at,
                width=snap.width,
                height=snap.height,
                bytes=snap.bytes,
                sha256=snap.sha256,
                phash=snap.phash,
                object_key=snap.object_key,
                thumb_key=snap.thumb_key,
                brightness=snap.brightness,
                sharpness=snap.sharpness,
                flags=list(snap.flags),
            )
            session.add(row)
            if item.uid not in newest or newest[item.uid][0] < snap.captured_at:
                newest[item.uid] = (snap.captured_at, row)
        await session.flush()
        # Cameras in uid order (as the recorder locks them): concurrent transactions
        # touching the same cameras then wait for each other instead of deadlocking.
        # Only if newer: pictures stored directly after the outage may be newer.
        for uid in sorted(newest):
            captured_at, row = newest[uid]
            await session.execute(
                update(Camera)
                .where(
                    Camera.uid == uid,
                    or_(Camera.last_snapshot_at.is_(None), Camera.last_snapshot_at < captured_at),
                )
                .values(last_snapshot_id=row.id, last_snapshot_at=captured_at)
            )


async def _upload(store: ObjectStore, item: SpooledSnapshot) -> None:
    snapshot = item.snapshot
    await store.put_snapshot(snapshot.object_key, item.data, snapshot.thumb_key, item.thumb)


async def replay_once(
    spool: Spool,
    store: ObjectStore,
    catalog: Catalog,
    *,
    parallel: int = 16,
    on_progress: Callable[[], None] | None = None,
) -> int:
    """Upload every spooled item, oldest first, and record it; returns how many.

    Items go `parallel` at a time: uploaded together, then recorded in one
    transaction, then removed. A store refusal (StoreUnavailable) or a database
    error propagates and leaves the chunk spooled; uploading it again later
    just rewrites the same objects. `on_progress` is called after each chunk.
    """
    done = 0
    paths = spool.paths()
    for start in range(0, len(paths), parallel):
        chunk: list[tuple[Path, SpooledSnapshot]] = []
        for path in paths[start : start + parallel]:
            try:
                chunk.append((path, await spool.load(path)))
            except (OSError, ValueError, KeyError, TypeError):
                log.exception("unreadable spool item %s set aside", path.name)
                await asyncio.to_thread(path.rename, path.with_suffix(".bad"))
        outcomes = await asyncio.gather(
            *(_upload(store, item) for _, item in chunk), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        await record_spooled(catalog, [item for _, item in chunk])
        for path, _ in chunk:
            await spool.remove(path)
        done += len(chunk)
        if on_progress is not None:
            on_progress()
    return done


async def replay_spool(
    spool: Spool,
    store: ObjectStore,
    catalog: Catalog,
    stop: asyncio.Event,
    on_store_back: Callable[[], None],
    *,
    retry_s: float = 1.0,
) -> None:
    """Replay the spool whenever it holds items, until `stop`.

    `on_store_back` is called once a chunk went through (and when the spool is
    empty): new pictures then go to the store directly while the backlog drains,
    so a spool drains even when replay is slower than capture. Rows keep their
    capture times and a camera's latest snapshot only moves forward.
    """
    while not stop.is_set():
        spool.changed.clear()
        try:
            await replay_once(spool, store, catalog, on_progress=on_store_back)
        except StoreUnavailable:
            await _sleep(stop, retry_s)  # still away
            continue
        except StoreError:
            log.exception("spool replay: the store refused an item")
            await _sleep(stop, retry_s * 5)
            continue
        except Exception:
            log.exception("spool replay: recording failed; will retry")
            await _sleep(stop, retry_s)
            continue
        if not spool.paths():
            on_store_back()
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(spool.changed.wait())]
        await asyncio.wait(waits, timeout=retry_s, return_when="FIRST_COMPLETED")
        for task in waits:
            task.cancel()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
