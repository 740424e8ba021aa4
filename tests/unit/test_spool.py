"""The local spool: atomic items that survive a restart, in capture order, softly bounded."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from catalog.polls import NewSnapshot
from ingest.spool import Spool, SpooledSnapshot

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def item(n: int, size: int = 100) -> SpooledSnapshot:
    at = T0 + timedelta(seconds=n)
    snapshot = NewSnapshot(
        captured_at=at, width=4, height=3, bytes=size, sha256=f"{n:064x}", phash=-(2**62) + n,
        object_key=f"img/d/c/{n}.jpg", thumb_key=f"thumb/d/c/{n}.jpg", brightness=0.5,
        sharpness=1.5, flags=("black",),
    )  # fmt: skip
    return SpooledSnapshot("d:c", snapshot, bytes([n % 256]) * size, b"thumb")


async def test_items_come_back_whole_and_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    for n in (3, 1, 2):
        await spool.put(item(n))
    loaded = [await spool.load(p) for p in spool.paths()]
    assert loaded == [item(1), item(2), item(3)]
    assert not spool.full


async def test_a_restart_finds_items_by_their_files_and_drops_torn_writes(tmp_path: Path) -> None:
    await Spool(tmp_path, max_bytes=1).put(item(1))
    spool = Spool(tmp_path, max_bytes=Spool(tmp_path, 1).bytes + 1)  # room for one
    assert not spool.full
    await spool.put(item(2))  # past the cap: still written, never dropped
    assert spool.full
    (tmp_path / "20261128T120003000000-torn.tmp").write_bytes(b"half an item")
    again = Spool(tmp_path, max_bytes=spool.max_bytes)
    assert again.bytes == spool.bytes
    assert len(again) == 2
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    for path in again.paths():
        await again.remove(path)
        await again.remove(path)  # a second removal (another worker's) is harmless
    assert (again.bytes, len(again), again.full) == (0, 0, False)
