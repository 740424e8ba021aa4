"""The HTTP snapshot connector against the fake camera farm, over real loopback sockets."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from ingest.connectors import (
    AuthRejected,
    AuthScheme,
    BadResponse,
    BodyTooLarge,
    CameraTarget,
    CameraTimeout,
    CameraUnreachable,
    ConnectorContext,
    HttpSnapshotConnector,
    NotAnImageResponse,
    SnapshotError,
)
from ingest.farm import (
    DEFAULT_MIX,
    CameraFarm,
    FarmAuth,
    FarmCamera,
    build_farm,
    build_frame_pool,
    plan_cameras,
)
from ingest.image import PHASH_SAME_DISTANCE, NotAnImage, hamming, inspect_jpeg
from tests.fixtures.cameras import FARM_PASSWORD

WRONG_PASSWORD = "not-the-Pa55word"


@pytest.fixture
async def connector() -> AsyncIterator[HttpSnapshotConnector]:
    async with aiohttp.ClientSession() as session:
        yield HttpSnapshotConnector(ConnectorContext(session=session))


def target(
    farm: CameraFarm,
    camera: FarmCamera,
    *,
    password: str | None = None,
    scheme: AuthScheme | None = None,
    timeout_s: float = 5.0,
    max_bytes: int = 8 << 20,
    url: str | None = None,
) -> CameraTarget:
    return CameraTarget(
        uid=f"farm:{camera.index}",
        kind="http",
        url=url or farm.url(camera.index),
        auth_scheme=camera.auth if scheme is None else scheme,
        username=camera.username,
        password=camera.password if password is None else password,
        timeout_s=timeout_s,
        max_bytes=max_bytes,
    )


async def failure(
    connector: HttpSnapshotConnector, t: CameraTarget, kind: type[SnapshotError]
) -> SnapshotError:
    with pytest.raises(kind) as caught:
        await connector.fetch(t)
    return caught.value


def assert_no_secret(err: BaseException, *secrets: str) -> None:
    shown = [
        str(err),
        repr(err),
        getattr(err, "reason", ""),
        "".join(traceback.format_exception(err)),
    ]
    for secret in secrets:
        for text in shown:
            assert secret not in text


@pytest.mark.parametrize("auth", ["none", "basic", "digest"])
async def test_snapshot_with_each_auth(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector, auth: FarmAuth
) -> None:
    camera = camera_farm.first("changing", auth=auth)
    data = await connector.fetch(target(camera_farm, camera))
    check = inspect_jpeg(data)
    assert (check.width, check.height, check.flags) == (640, 360, ())


async def test_digest_nonce_is_reused_on_the_next_poll(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    camera = camera_farm.first("static", auth="digest")
    t = target(camera_farm, camera)
    requests, challenges = (
        camera_farm.requests[camera.index],
        camera_farm.unauthorized[camera.index],
    )
    first = await connector.fetch(t)
    assert camera_farm.unauthorized[camera.index] == challenges + 1  # one 401 to learn the nonce
    assert camera_farm.requests[camera.index] == requests + 2
    for n in range(2):
        assert await connector.fetch(t) == first
        # aiohttp's middleware answers the kept challenge preemptively: no 401 round trip
        assert camera_farm.unauthorized[camera.index] == challenges + 1
        assert camera_farm.requests[camera.index] == requests + 3 + n


async def test_stale_digest_nonce_is_renewed(connector: HttpSnapshotConnector) -> None:
    camera = FarmCamera.make(0, "static", "digest")
    async with CameraFarm([camera], nonce_ttl=0.2) as farm:
        t = target(farm, camera)
        first = await connector.fetch(t)
        await asyncio.sleep(0.3)  # the kept nonce expires: 401 stale=true, then a retry
        assert await connector.fetch(t) == first
        assert farm.unauthorized[0] == 2
        assert farm.requests[0] == 4


async def test_basic_credentials_in_the_url(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    camera = camera_farm.first("changing", auth="basic")
    url = camera_farm.url(camera.index).replace("http://", f"http://admin:{FARM_PASSWORD}@")
    t = CameraTarget(uid="farm:url-auth", kind="http", url=url, timeout_s=5.0)
    assert inspect_jpeg(await connector.fetch(t)).width == 640


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_wrong_password_is_rejected(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector, auth: FarmAuth
) -> None:
    camera = camera_farm.first("changing", auth=auth)
    err = await failure(
        connector, target(camera_farm, camera, password=WRONG_PASSWORD), AuthRejected
    )
    assert err.reason == "auth rejected"
    assert_no_secret(err, WRONG_PASSWORD, FARM_PASSWORD)


@pytest.mark.parametrize("auth", ["basic", "digest"])
async def test_no_credentials_is_rejected(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector, auth: FarmAuth
) -> None:
    camera = camera_farm.first("static", auth=auth)
    await failure(connector, target(camera_farm, camera, scheme="none"), AuthRejected)


async def test_digest_after_a_wrong_password_recovers(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    camera = camera_farm.first("black", auth="digest")
    await failure(connector, target(camera_farm, camera, password=WRONG_PASSWORD), AuthRejected)
    assert inspect_jpeg(await connector.fetch(target(camera_farm, camera))).flags == ("black",)


async def test_http_errors(camera_farm: CameraFarm, connector: HttpSnapshotConnector) -> None:
    camera = camera_farm.first("server_error")
    err = await failure(connector, target(camera_farm, camera), BadResponse)
    assert err.reason == "HTTP 500"
    missing = f"{camera_farm.base_url}/cam/9999/snapshot.jpg"
    err = await failure(connector, target(camera_farm, camera, url=missing), BadResponse)
    assert err.reason == "HTTP 404"


async def test_html_page_is_not_an_image(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    err = await failure(
        connector, target(camera_farm, camera_farm.first("html")), NotAnImageResponse
    )
    assert err.reason == "not an image: text/html"


@pytest.mark.parametrize("behaviour", ["hang", "drip", "slow"])
async def test_a_camera_that_does_not_answer_times_out(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector, behaviour: str
) -> None:
    t = target(camera_farm, camera_farm.first(behaviour), timeout_s=1.0)
    started = time.monotonic()
    err = await failure(connector, t, CameraTimeout)
    assert time.monotonic() - started < t.timeout_s + 1.0
    assert err.reason == "timeout"


async def test_hang_behind_digest_times_out(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    t = target(camera_farm, camera_farm.first("hang", auth="digest"), timeout_s=1.0)
    await failure(connector, t, CameraTimeout)


async def test_offline_camera_refuses(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    err = await failure(
        connector, target(camera_farm, camera_farm.first("offline")), CameraUnreachable
    )
    assert err.reason == "connection refused"


async def test_endless_body_is_cut_with_bounded_memory(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    t = target(camera_farm, camera_farm.first("endless"), max_bytes=1 << 20)
    tracemalloc.start()
    try:
        err = await failure(connector, t, BodyTooLarge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.reason == "body too large"
    assert peak < 4 * t.max_bytes


async def test_declared_huge_body_is_refused(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    camera = camera_farm.first("huge")
    tracemalloc.start()
    try:
        await failure(connector, target(camera_farm, camera), BodyTooLarge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # refused on Content-Length: 50 MB declared, almost nothing read


@pytest.mark.parametrize("auth", ["none", "digest"])
async def test_redirect_loop(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector, auth: FarmAuth
) -> None:
    err = await failure(
        connector, target(camera_farm, camera_farm.first("redirect_loop", auth=auth)), BadResponse
    )
    assert err.reason == "redirect loop"


async def test_bad_pictures_arrive_and_are_caught_by_the_image_check(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    for behaviour, reason in (("garbage", "not a JPEG"), ("truncated", "truncated JPEG")):
        data = await connector.fetch(target(camera_farm, camera_farm.first(behaviour)))
        with pytest.raises(NotAnImage) as caught:
            inspect_jpeg(data)
        assert caught.value.reason == reason
    for flag in ("black", "error_page", "blurred"):
        data = await connector.fetch(target(camera_farm, camera_farm.first(flag)))
        assert inspect_jpeg(data).flags == (flag,)


async def test_static_repeats_bytes_and_changing_repeats_only_the_picture(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    static = target(camera_farm, camera_farm.first("static"))
    assert await connector.fetch(static) == await connector.fetch(static)
    changing = target(camera_farm, camera_farm.first("changing"))
    a, b = await connector.fetch(changing), await connector.fetch(changing)
    assert a != b  # a new comment (the camera's clock) in every answer
    assert hamming(inspect_jpeg(a).phash, inspect_jpeg(b).phash) <= PHASH_SAME_DISTANCE


async def test_changing_camera_shows_a_new_picture_later(
    connector: HttpSnapshotConnector,
) -> None:
    camera = FarmCamera.make(0, "changing", "digest")
    async with CameraFarm([camera], change_every=0.3) as farm:
        t = target(farm, camera)
        first = inspect_jpeg(await connector.fetch(t)).phash
        await asyncio.sleep(0.35)
        later = inspect_jpeg(await connector.fetch(t)).phash
    assert hamming(first, later) > PHASH_SAME_DISTANCE


async def test_a_farm_changing_on_every_answer_never_repeats_a_picture(
    connector: HttpSnapshotConnector,
) -> None:
    """`change_every=0` (the ingest benchmark): two polls in a row always differ."""
    camera = FarmCamera.make(0, "changing", "none")
    async with CameraFarm([camera], change_every=0) as farm:
        t = target(farm, camera)
        hashes = [inspect_jpeg(await connector.fetch(t)).phash for _ in range(6)]
    assert all(hamming(a, b) > PHASH_SAME_DISTANCE for a, b in itertools.pairwise(hashes))


async def test_errors_never_show_passwords_or_userinfo(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    secret = "Userinfo-S3cret"
    cases: list[tuple[str, type[SnapshotError]]] = [
        ("offline", CameraUnreachable),
        ("hang", CameraTimeout),
        ("server_error", BadResponse),
        ("redirect_loop", BadResponse),
        ("html", NotAnImageResponse),
    ]
    for behaviour, kind in cases:
        camera = camera_farm.first(behaviour)
        url = camera_farm.url(camera.index).replace("http://", f"http://admin:{secret}@")
        t = CameraTarget(uid="farm:leak", kind="http", url=url, timeout_s=0.5)
        err = await failure(connector, t, kind)
        assert_no_secret(err, secret, f"admin:{secret}@")
        assert secret not in repr(t)


async def test_target_without_url(connector: HttpSnapshotConnector) -> None:
    with pytest.raises(SnapshotError, match=r"^no URL$"):
        await connector.fetch(CameraTarget(uid="u", kind="http"))
    with pytest.raises(BadResponse, match=r"^invalid URL$"):
        await connector.fetch(CameraTarget(uid="u", kind="http", url="ftp://cam/x.jpg"))


async def test_many_cameras_at_once(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    healthy = [c for c in camera_farm.cameras if c.behaviour == "changing"]
    results = await asyncio.gather(
        *(connector.fetch(target(camera_farm, c)) for c in healthy for _ in range(5))
    )
    assert all(inspect_jpeg(r).flags == () for r in results)


async def test_farm_counts_requests(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    camera = camera_farm.first("changing", auth="none")
    before = camera_farm.requests[camera.index]
    await connector.fetch(target(camera_farm, camera))
    assert camera_farm.requests[camera.index] == before + 1
    assert sum(camera_farm.requests) > 0


# -- the farm itself: the plan of cameras and the size of its pictures ---------------


def test_farm_plan_is_deterministic_and_follows_the_mix() -> None:
    cameras = plan_cameras(2000, seed=7)
    assert cameras == plan_cameras(2000, seed=7)
    assert cameras != plan_cameras(2000, seed=8)
    behaviours = Counter(c.behaviour for c in cameras)
    assert behaviours["changing"] == 1500
    assert (behaviours["static"], behaviours["slow"], behaviours["offline"]) == (200, 100, 100)
    assert sum(behaviours[b] for b in ("black", "error_page", "blurred")) == 100
    assert all(b in DEFAULT_MIX for b in behaviours)
    auths = Counter(c.auth for c in cameras)
    assert sorted(auths.values()) == [666, 667, 667]
    assert all(2.0 <= c.delay_s <= 8.0 for c in cameras)


def test_farm_plan_with_a_mix() -> None:
    cameras = plan_cameras(10, mix={"hang": 1, "html": 1})
    assert Counter(c.behaviour for c in cameras) == {"hang": 5, "html": 5}
    with pytest.raises(ValueError, match="unknown farm behaviours"):
        plan_cameras(10, mix={"exploding": 1.0})


def test_farm_password_never_in_a_camera_repr() -> None:
    farm = build_farm(3, password="Repr-S3cret")
    assert farm.password == "Repr-S3cret"
    assert all("Repr-S3cret" not in repr(c) for c in farm.cameras)


@pytest.mark.parametrize(
    ("width", "height", "low_kb", "high_kb"), [(640, 360, 30, 60), (1920, 1080, 300, 500)]
)
def test_farm_frame_sizes(width: int, height: int, low_kb: int, high_kb: int) -> None:
    pool = build_frame_pool([0, 1], width=width, height=height)
    for frames in pool.scenes.values():
        for frame in frames:
            assert low_kb * 1024 <= len(frame) <= high_kb * 1024
            assert inspect_jpeg(frame).width == width


async def compressed_camera(body: bytes, encoding: str) -> tuple[web.AppRunner, str]:
    """A camera that answers ``body`` with a Content-Encoding (and its Content-Length)."""

    async def picture(request: web.Request) -> web.Response:
        return web.Response(
            body=body,
            headers={"Content-Type": "image/jpeg", "Content-Encoding": encoding},
        )

    app = web.Application()
    app.router.add_get("/picture", picture)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/picture"


async def test_a_compressed_body_that_inflates_past_the_cap_is_cut(
    connector: HttpSnapshotConnector,
) -> None:
    # 8 MB of zeros in 8 KB of gzip: its Content-Length says nothing of its size
    runner, url = await compressed_camera(gzip.compress(bytes(8 << 20)), "gzip")
    try:
        t = CameraTarget(uid="bomb:1", kind="http", url=url, max_bytes=1 << 20)
        tracemalloc.start()
        try:
            err = await failure(connector, t, BodyTooLarge)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await runner.cleanup()
    assert err.reason == "body too large"
    assert peak < 4 * t.max_bytes


async def test_a_compressed_picture_within_the_cap_arrives_whole(
    camera_farm: CameraFarm, connector: HttpSnapshotConnector
) -> None:
    picture = next(iter(camera_farm.frames.scenes.values()))[0]
    runner, url = await compressed_camera(gzip.compress(picture), "gzip")
    try:
        data = await connector.fetch(CameraTarget(uid="gz:1", kind="http", url=url))
    finally:
        await runner.cleanup()
    assert data == picture
