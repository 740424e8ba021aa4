"""Object keys and store URLs: what the stores accept, and what they refuse.

No network: building a MinioStore does not connect.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from catalog.store import (
    InvalidKey,
    LocalStore,
    MinioStore,
    StoreError,
    check_key,
    check_prefix,
    open_store,
    snapshot_key,
    snapshot_keys,
)
from catalog.store.base import MAX_KEY_LENGTH

SHA = "0123456789abcdef" * 4
SEGMENT_CHARS = string.ascii_letters + string.digits + "._-"
CST = timezone(timedelta(hours=8))


def test_snapshot_key_layout_in_utc() -> None:
    at = datetime(2024, 3, 1, 2, 3, 4, 567, tzinfo=CST)  # 2024-02-29 18:03:04.000567Z
    assert (
        snapshot_key("img", "chengguan", "43020300001320000001", at, SHA)
        == "img/chengguan/43020300001320000001/2024/02/29/180304000567-0123456789ab.jpg"
    )
    assert (
        snapshot_key("thumb", "water", "cam-7_b", at.astimezone(UTC), SHA.upper())
        == "thumb/water/cam-7_b/2024/02/29/180304000567-0123456789ab.jpg"
    )


def test_snapshot_keys_are_the_image_and_thumb_keys() -> None:
    at = datetime(2024, 3, 1, 2, 3, 4, 567, tzinfo=CST)
    assert snapshot_keys("water", "cam-7_b", at, SHA) == (
        snapshot_key("img", "water", "cam-7_b", at, SHA),
        snapshot_key("thumb", "water", "cam-7_b", at, SHA),
    )
    with pytest.raises(InvalidKey, match="camera_id"):
        snapshot_keys("water", "a/b", at, SHA)


def test_snapshot_keys_sort_by_time_within_a_camera() -> None:
    base = datetime(2024, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    times = [base + timedelta(microseconds=n) for n in (0, 1, 10**6, 86_400 * 10**6)]
    keys = [snapshot_key("img", "d", "c", t, SHA) for t in times]
    assert keys == sorted(keys)
    assert keys[1].startswith("img/d/c/2025/01/01/000000000000-")


def test_snapshot_key_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        snapshot_key("img", "d", "c", datetime(2024, 1, 1, 12, 0), SHA)


@pytest.mark.parametrize("digest", ["", "0123", SHA[:-1], SHA + "0", "g" * 64, "/" + SHA[1:]])
def test_snapshot_key_rejects_bad_digests(digest: str) -> None:
    with pytest.raises(ValueError, match="sha256_hex"):
        snapshot_key("img", "d", "c", datetime.now(UTC), digest)


def test_snapshot_key_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="kind"):
        snapshot_key("raw", "d", "c", datetime.now(UTC), SHA)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "..",
        ".",
        "../etc",
        "a/b",
        "a%2Fb",
        "a%2fb",
        "a\x00b",
        "a\\b",
        "a b",
        "芦淞",
        "a\nb",
        "a:b",
    ],
)
@pytest.mark.parametrize("field", ["department", "camera_id"])
def test_snapshot_key_rejects_hostile_ids(hostile: str, field: str) -> None:
    ids = {"department": "d", "camera_id": "c", field: hostile}
    with pytest.raises(InvalidKey):
        snapshot_key("img", ids["department"], ids["camera_id"], datetime.now(UTC), SHA)


@pytest.mark.parametrize(
    "key",
    [
        "img/a/b.jpg",
        "a",
        "A-Z_a-z.0-9/x",
        "img/chengguan/4302/2024/01/01/x.jpg",
        "..a/b..",
        "x" * 255,
    ],
)
def test_valid_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/abs/key",
        "//double",
        "../escape",
        "a/../../escape",
        "a/..",
        "a/./b",
        ".",
        "a//b",
        "a/",
        "a\\..\\b",
        "a\\b",
        "a\x00b",
        "a\x1fb",
        "a\x7fb",
        "a\tb",
        "a\r\nb",
        "a%2Fb",
        "a%2fb",
        "%2e%2e/etc",
        "a%00",
        "a b",
        "a?b",
        "a#b",
        "a:b",
        "C:/windows",
        "img/芦淞/x.jpg",
        "img/\u202egpj.exe",
        "img/ｘ",  # full-width letter
        "x" * 256,
        "a/" * 512 + "b",
    ],
)
def test_hostile_keys_are_rejected(key: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        check_key(key)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, StoreError)
    assert "\x00" not in str(caught.value)  # messages show keys escaped
    assert "\n" not in str(caught.value)


def test_check_key_agrees_with_its_rules_segment_by_segment() -> None:
    """check_key's one-match fast path accepts exactly what the rules accept."""

    def by_the_rules(key: str) -> bool:
        segments = key.split("/")
        return 0 < len(key) <= MAX_KEY_LENGTH and all(
            0 < len(s) <= 255 and s not in (".", "..") and set(s) <= set(SEGMENT_CHARS)
            for s in segments
        )

    rng = random.Random(7)
    alphabet = "ab._-/\\%\x00 Z9"
    keys = ["".join(rng.choices(alphabet, k=rng.randint(0, 9))) for _ in range(20_000)]
    keys += ["a" * 255, "a" * 256, "a/" + "b" * 256, "x/" * 511 + "y", "x/" * 512 + "y"]
    for key in keys:
        try:
            accepted = check_key(key) == key
        except InvalidKey:
            accepted = False
        assert accepted is by_the_rules(key), repr(key)


def test_non_string_keys_are_rejected() -> None:
    with pytest.raises(InvalidKey):
        check_key(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "img/", "img/cheng", "img/chengguan/4302", "i"])
def test_valid_prefixes(prefix: str) -> None:
    assert check_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/img", "../", "img//", "a%2F", "a\x00", "a\\", "img/../"])
def test_hostile_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(InvalidKey):
        check_prefix(prefix)


# -- store URLs ----------------------------------------------------------------------


def test_relative_file_url_resolves_against_base_dir(tmp_path: Path) -> None:
    store = open_store("file:var/objects", base_dir=tmp_path)
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "var" / "objects"


def test_relative_file_url_defaults_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("file:objects")
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "objects"


@pytest.mark.parametrize("url", ["file:///srv/camgrid/objects", "file:/srv/camgrid/objects"])
def test_absolute_file_urls(url: str, tmp_path: Path) -> None:
    store = open_store(url, base_dir=tmp_path)
    assert isinstance(store, LocalStore)
    assert store.root == Path("/srv/camgrid/objects")


def test_file_url_is_percent_decoded(tmp_path: Path) -> None:
    store = open_store("file:my%20objects", base_dir=tmp_path)
    assert isinstance(store, LocalStore)
    assert store.root == tmp_path / "my objects"


async def test_s3_url() -> None:
    store = open_store(
        "s3://AKIA%3Ax:se%2Fcr%40et%3A@minio.local:9000/camgrid?secure=false&region=cn-1"
    )
    assert isinstance(store, MinioStore)
    assert store.bucket == "camgrid"
    assert "cr@et" not in repr(store)
    client = store._client  # credentials decoded as given
    creds = client._provider.retrieve()  # type: ignore[union-attr]
    assert (creds.access_key, creds.secret_key) == ("AKIA:x", "se/cr@et:")
    assert client._base_url.region == "cn-1"
    assert not client._base_url.is_https
    await store.close()


async def test_s3_url_is_secure_by_default() -> None:
    store = open_store("s3://ak:sk@minio.example:443/bucket")
    assert isinstance(store, MinioStore)
    assert store._client._base_url.is_https
    await store.close()


SECRET = "Sup3rS3cret"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "objects",
        "http://example/objects",
        f"ftp://ak:{SECRET}@host/bucket",
        f"AK:{SECRET}@host:9000/bucket",
        f"s3://ak:{SECRET}@host:99999/bucket",
        f"s3://ak:{SECRET}@host:port/bucket",
        f"s3://ak:{SECRET}@host:9000/",
        f"s3://ak:{SECRET}@host:9000/Bad_Bucket",
        f"s3://ak:{SECRET}@host:9000/a/b",
        f"s3://ak:{SECRET}@host:9000/bucket?secure=maybe",
        f"s3://ak:{SECRET}@host:9000/bucket?secure=true&secure=false",
        f"s3://ak:{SECRET}@host:9000/bucket?colour={SECRET}",
        f"s3://ak:{SECRET}@host:9000/bucket#frag",
        f"s3://ak:{SECRET}@/bucket",
        f"s3://ak:{SECRET}@[::1/bucket",
        f"s3://ak:{SECRET[:4]}/{SECRET[4:]}@host:9000/bucket",  # unencoded '/'
        f"s3://ak:{SECRET[:4]}?{SECRET[4:]}@host:9000/bucket",  # unencoded '?'
        f"s3://ak:{SECRET[:4]}#{SECRET[4:]}@host:9000/bucket",  # unencoded '#'
        "s3://host:9000/bucket",
        "s3://ak@host:9000/bucket",
        "s3://ak:@host:9000/bucket",
        f"s3://:{SECRET}@host:9000/bucket",
        "file://otherhost/objects",
        "file:objects?x=1",
        "file:",
    ],
)
def test_bad_store_urls_never_echo_the_secret(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad store URL") as caught:
        open_store(url, base_dir=tmp_path)
    message = str(caught.value)
    for fragment in (SECRET, SECRET[:4], SECRET[4:]):
        assert fragment not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ or caught.value.__context__ is None
