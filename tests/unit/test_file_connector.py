"""Unit tests of the file snapshot connector and the connector registry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from ingest.connectors import (
    BodyTooLarge,
    CameraTarget,
    CameraUnreachable,
    ConnectorContext,
    FileSnapshotConnector,
    HttpSnapshotConnector,
    SnapshotError,
    make_connectors,
)


@pytest.fixture
async def ctx() -> AsyncIterator[ConnectorContext]:
    # the file connector never uses the session; it is part of every context
    async with aiohttp.ClientSession() as session:
        yield ConnectorContext(session=session)


def target(path: Path, uid: str = "water:cam1", max_bytes: int = 1024) -> CameraTarget:
    return CameraTarget(uid=uid, kind="file", path=path, timeout_s=5.0, max_bytes=max_bytes)


def fill(folder: Path, names: list[str]) -> None:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\xff\xd8" + name.encode() + b"\xff\xd9")


async def test_folder_rotates_sorted_per_uid(ctx: ConnectorContext, tmp_path: Path) -> None:
    fill(tmp_path, ["b.jpg", "a.JPG", "c.jpeg", "notes.txt", "d.png"])
    (tmp_path / "sub.jpg").mkdir()  # a folder named like a picture is not one
    connector = FileSnapshotConnector(ctx)
    got = [await connector.fetch(target(tmp_path)) for _ in range(4)]
    assert [g[2:-2] for g in got] == [b"a.JPG", b"b.jpg", b"c.jpeg", b"a.JPG"]
    other = await connector.fetch(target(tmp_path, uid="water:cam2"))
    assert other[2:-2] == b"a.JPG"


async def test_new_files_join_the_rotation(ctx: ConnectorContext, tmp_path: Path) -> None:
    fill(tmp_path, ["1.jpg"])
    connector = FileSnapshotConnector(ctx)
    assert (await connector.fetch(target(tmp_path)))[2:-2] == b"1.jpg"
    fill(tmp_path, ["2.jpg"])
    assert (await connector.fetch(target(tmp_path)))[2:-2] == b"2.jpg"


async def test_single_file(ctx: ConnectorContext, tmp_path: Path) -> None:
    fill(tmp_path, ["only.jpg"])
    connector = FileSnapshotConnector(ctx)
    for _ in range(2):
        assert await connector.fetch(target(tmp_path / "only.jpg")) == b"\xff\xd8only.jpg\xff\xd9"


async def test_reads_in_the_given_executor(tmp_path: Path) -> None:
    fill(tmp_path, ["x.jpg"])
    with ThreadPoolExecutor(1, thread_name_prefix="test-io") as pool:
        async with aiohttp.ClientSession() as session:
            connector = FileSnapshotConnector(ConnectorContext(session=session, executor=pool))
            assert await connector.fetch(target(tmp_path)) == b"\xff\xd8x.jpg\xff\xd9"


async def test_missing_path_is_unreachable(ctx: ConnectorContext, tmp_path: Path) -> None:
    with pytest.raises(CameraUnreachable) as caught:
        await FileSnapshotConnector(ctx).fetch(target(tmp_path / "gone.jpg"))
    assert caught.value.reason == "file not found"


async def test_other_files_are_unsupported(ctx: ConnectorContext, tmp_path: Path) -> None:
    picture = tmp_path / "clip.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(SnapshotError) as caught:
        await FileSnapshotConnector(ctx).fetch(target(picture))
    assert caught.value.reason == "unsupported file"


async def test_empty_folder(ctx: ConnectorContext, tmp_path: Path) -> None:
    with pytest.raises(SnapshotError) as caught:
        await FileSnapshotConnector(ctx).fetch(target(tmp_path))
    assert caught.value.reason == "no images"


async def test_no_path(ctx: ConnectorContext) -> None:
    with pytest.raises(SnapshotError, match=r"^no path$"):
        await FileSnapshotConnector(ctx).fetch(CameraTarget(uid="u", kind="file"))


async def test_file_over_the_cap(ctx: ConnectorContext, tmp_path: Path) -> None:
    (tmp_path / "big.jpg").write_bytes(b"\xff" * 2048)
    with pytest.raises(BodyTooLarge) as caught:
        await FileSnapshotConnector(ctx).fetch(target(tmp_path / "big.jpg", max_bytes=1024))
    assert caught.value.reason == "body too large"
    (tmp_path / "big.jpg").write_bytes(b"\xff" * 1024)
    assert len(await FileSnapshotConnector(ctx).fetch(target(tmp_path / "big.jpg"))) == 1024


async def test_make_connectors(ctx: ConnectorContext) -> None:
    made = make_connectors(ctx)
    assert isinstance(made["http"], HttpSnapshotConnector)
    assert isinstance(made["file"], FileSnapshotConnector)


def test_target_repr_hides_the_password(tmp_path: Path) -> None:
    t = CameraTarget(uid="u", kind="http", url="http://cam/x.jpg", password="hunter2-secret")
    assert "hunter2-secret" not in repr(t)
    assert "hunter2-secret" not in str(t)
    in_url = CameraTarget(uid="u", kind="http", url="http://admin:p@ss:w0rd@cam:80/x.jpg?a=@b")
    assert repr(in_url).count("p@ss") == 0
    assert "url='http://***@cam:80/x.jpg?a=@b'" in repr(in_url)
