"""The simulated camera farm: one aiohttp server on loopback serving many fake cameras.

Each camera answers ``GET /cam/{index}/snapshot.jpg`` according to its behaviour,
behind no auth, Basic or Digest auth. Frames are rendered and encoded once at start
(:mod:`ingest.farm.frames`); a request costs an auth check and a copy, so one core
serves thousands of requests a second. "Changing" cameras step through their scene's
time variants every ``change_every`` seconds (0: one step per answer); each answer
also carries a JPEG comment with a counter, so its bytes (and sha256) differ from
the last one even when the picture (and its pHash) has not changed, as a real
camera's burnt-in clock does.
"Static" cameras answer the exact same bytes every time.

"Offline" cameras get URLs on a second port that the farm keeps bound but never
listens on: the kernel refuses connections to it, as for a camera whose web server is
down, and no other process can take that port while the farm runs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Self

import numpy as np
from aiohttp import hdrs, web

from ingest.farm.auth import DigestAuthority, Verdict, check_basic
from ingest.farm.cameras import DEFAULT_PASSWORD, FarmCamera, plan_cameras
from ingest.farm.frames import FramePool, build_frame_pool

MiB = 1 << 20
HUGE_BYTES = 50 * MiB
_SCENE_BEHAVIOURS = frozenset({"changing", "static", "slow", "drip", "truncated", "endless"})
_HTML = (
    b"<!DOCTYPE html><html><head><title>Device busy</title></head>"
    b"<body><h1>503 Device busy</h1><p>Please try again later.</p></body></html>"
)

Handler = Callable[[web.Request, FarmCamera], Awaitable[web.StreamResponse]]


def _stamped(frame: bytes, note: str) -> bytes:
    """The frame with a COM segment after SOI: new bytes, the same picture."""
    text = note.encode()
    return b"".join((b"\xff\xd8\xff\xfe", (len(text) + 2).to_bytes(2, "big"), text, frame[2:]))


def _dead_socket(host: str) -> socket.socket:
    """A TCP socket bound to ``host`` on a free port that never listens: connects are refused."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.bind((host, 0))
    return sock


class CameraFarm:
    """A set of fake HTTP snapshot cameras served by one aiohttp server.

    ``cameras`` must be indexed 0..n-1 in order. ``password`` is the account
    password the cameras share (for writing a config that reaches them).
    ``requests[index]`` counts every request a camera received and
    ``unauthorized[index]`` the 401 answers among them.
    """

    def __init__(
        self,
        cameras: Sequence[FarmCamera],
        *,
        seed: int = 0,
        width: int = 640,
        height: int = 360,
        quality: int = 85,
        change_every: float = 10.0,
        nonce_ttl: float = 600.0,
        password: str | None = None,
    ) -> None:
        if [c.index for c in cameras] != list(range(len(cameras))):
            raise ValueError("camera indexes must be 0..n-1 in order")
        self.cameras: tuple[FarmCamera, ...] = tuple(cameras)
        self.seed = seed
        self.width, self.height, self.quality = width, height, quality
        self.change_every = change_every
        #: the password the cameras share (the first camera's unless given)
        self.password = password or (cameras[0].password if cameras else DEFAULT_PASSWORD)
        self.requests = [0] * len(cameras)
        self.unauthorized = [0] * len(cameras)
        self.host = "127.0.0.1"
        self.port = 0
        self._digest = DigestAuthority(nonce_ttl=nonce_ttl)
        self._frames: FramePool | None = None
        self._runner: web.AppRunner | None = None
        self._dead: socket.socket | None = None
        self._closing = asyncio.Event()
        self._started_at = 0.0
        self._served = 0
        self._garbage: dict[int, bytes] = {}
        self._block = np.random.default_rng([seed, 7]).bytes(MiB)
        self._handlers: dict[str, Handler] = {
            "changing": self._changing,
            "slow": self._slow,
            "static": self._static,
            "black": self._special,
            "error_page": self._special,
            "blurred": self._special,
            "offline": self._offline,
            "hang": self._hang,
            "drip": self._drip,
            "garbage": self._garbage_body,
            "html": self._html,
            "truncated": self._truncated,
            "endless": self._endless,
            "redirect_loop": self._redirect_loop,
            "huge": self._huge,
            "server_error": self._server_error,
        }

    # -- lifecycle -----------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Render the frames (in a thread), then listen on ``host:port`` (0: any free port)."""
        scenes = {c.scene for c in self.cameras if c.behaviour in _SCENE_BEHAVIOURS}
        self._frames = await asyncio.to_thread(
            build_frame_pool,
            scenes or {0},
            width=self.width,
            height=self.height,
            quality=self.quality,
            seed=self.seed,
        )
        app = web.Application()
        app.router.add_get("/cam/{index}/snapshot.jpg", self._handle)
        self._runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2.0,
            handler_cancellation=True,  # a client that gives up frees its hanging handler
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=2048)
        await site.start()
        self.host = host
        self.port = int(self._runner.addresses[0][1])
        self._dead = _dead_socket(host)
        self._started_at = time.monotonic()
        self._closing.clear()

    async def stop(self) -> None:
        """Release hanging and dripping handlers, close the server and the dead port."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._dead is not None:
            self._dead.close()
            self._dead = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- lookups -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the live server."""
        if not self.port:
            raise RuntimeError("the farm is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, index: int) -> str:
        """The snapshot URL of camera ``index`` (on the refusing port when it is offline)."""
        camera = self.cameras[index]
        base = self.base_url
        if camera.behaviour == "offline" and self._dead is not None:
            base = base.rsplit(":", 1)[0] + f":{self._dead.getsockname()[1]}"
        return f"{base}/cam/{index}/snapshot.jpg"

    def first(self, behaviour: str, *, auth: str | None = None) -> FarmCamera:
        """The first camera with ``behaviour`` (and ``auth`` when given)."""
        for camera in self.cameras:
            if camera.behaviour == behaviour and (auth is None or camera.auth == auth):
                return camera
        raise LookupError(f"no {behaviour} camera with auth {auth}")

    @property
    def frames(self) -> FramePool:
        """The pre-encoded frames (after :meth:`start`)."""
        if self._frames is None:
            raise RuntimeError("the farm is not started")
        return self._frames

    def variant(self, camera: FarmCamera) -> int:
        """The time variant a changing camera shows now.

        With ``change_every`` at 0 each answer shows the next variant, so that
        two polls in a row never see the same picture (the ingest benchmark).
        """
        if self.change_every <= 0:
            return self.requests[camera.index] + int(camera.phase)
        elapsed = time.monotonic() - self._started_at
        return int(elapsed / self.change_every + camera.phase)

    # -- request handling ----------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            camera = self.cameras[int(request.match_info["index"])]
        except (ValueError, IndexError):
            raise web.HTTPNotFound() from None
        self.requests[camera.index] += 1
        denied = self._authorize(request, camera)
        if denied is not None:
            self.unauthorized[camera.index] += 1
            return denied
        return await self._handlers[camera.behaviour](request, camera)

    def _authorize(self, request: web.Request, camera: FarmCamera) -> web.Response | None:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if camera.auth == "basic":
            if check_basic(header, camera.username, camera.password) is Verdict.OK:
                return None
            challenge = 'Basic realm="camgrid-farm", charset="UTF-8"'
        elif camera.auth == "digest":
            verdict = self._digest.check(
                header,
                method=request.method,
                uri=request.raw_path,
                username=camera.username,
                password=camera.password,
            )
            if verdict is Verdict.OK:
                return None
            challenge = self._digest.challenge(stale=verdict is Verdict.STALE)
        else:
            return None
        return web.Response(
            status=401, text="401 Unauthorized", headers={hdrs.WWW_AUTHENTICATE: challenge}
        )

    def _jpeg(self, body: bytes) -> web.Response:
        return web.Response(
            body=body, content_type="image/jpeg", headers={hdrs.CACHE_CONTROL: "no-cache"}
        )

    def _note(self, camera: FarmCamera) -> str:
        self._served += 1
        return f"camgrid-farm cam={camera.index} n={self._served}"

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; True when the farm began closing meanwhile."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _changing(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        frame = self.frames.scene(camera.scene, self.variant(camera))
        return self._jpeg(_stamped(frame, self._note(camera)))

    async def _slow(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        if await self._pause(camera.delay_s):
            raise web.HTTPServiceUnavailable()
        return await self._changing(request, camera)

    async def _static(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        return self._jpeg(self.frames.scene(camera.scene, int(camera.phase)))

    async def _special(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        frames = self.frames.special[camera.behaviour]
        frame = frames[self.variant(camera) % len(frames)]
        return self._jpeg(_stamped(frame, self._note(camera)))

    async def _offline(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        # reached only through the live port by a guessed URL: hang up without an answer
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPServiceUnavailable()

    async def _hang(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        await self._pause(3600.0)
        raise web.HTTPServiceUnavailable()

    async def _stream(
        self, request: web.Request, chunks: Callable[[], bytes | None], length: int | None
    ) -> web.StreamResponse:
        """Send ``chunks()`` until it gives None, the client leaves or the farm closes."""
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "image/jpeg"})
        if length is None:
            response.enable_chunked_encoding()
        else:
            response.content_length = length
        try:
            await response.prepare(request)
            while not self._closing.is_set() and (chunk := chunks()) is not None:
                await response.write(chunk)
                await asyncio.sleep(0)
        except ConnectionError:
            pass  # the client gave up, as it should
        return response

    async def _drip(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        frame = self.frames.scene(camera.scene, 0)
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "image/jpeg"})
        response.content_length = len(frame)
        try:
            await response.prepare(request)
            for i in range(len(frame)):
                await response.write(frame[i : i + 1])
                if await self._pause(1.0):
                    break
        except ConnectionError:
            pass
        return response

    async def _garbage_body(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        body = self._garbage.get(camera.index)
        if body is None:
            body = b"\x00" + np.random.default_rng([self.seed, camera.index, 8]).bytes(32 * 1024)
            self._garbage[camera.index] = body
        return self._jpeg(body)

    async def _html(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        return web.Response(body=_HTML, content_type="text/html", charset="utf-8")

    async def _truncated(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        frame = self.frames.scene(camera.scene, 0)
        return self._jpeg(frame[: len(frame) // 2])

    async def _endless(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        head = self.frames.scene(camera.scene, 0)[:1024]
        blocks = iter((head,))
        return await self._stream(request, lambda: next(blocks, self._block[: 64 * 1024]), None)

    async def _huge(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        left = [HUGE_BYTES // MiB]

        def chunk() -> bytes | None:
            left[0] -= 1
            return self._block if left[0] >= 0 else None

        return await self._stream(request, chunk, HUGE_BYTES)

    async def _redirect_loop(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        raise web.HTTPFound(location=request.path_qs)

    async def _server_error(self, request: web.Request, camera: FarmCamera) -> web.StreamResponse:
        raise web.HTTPInternalServerError()


def build_farm(
    n: int,
    *,
    seed: int = 0,
    mix: dict[str, float] | None = None,
    width: int = 640,
    height: int = 360,
    quality: int = 85,
    change_every: float = 10.0,
    password: str = DEFAULT_PASSWORD,
) -> CameraFarm:
    """A farm of ``n`` cameras planned by :func:`plan_cameras`; call ``start()`` to serve."""
    cameras = plan_cameras(n, seed=seed, mix=mix, password=password)
    return CameraFarm(
        cameras,
        seed=seed,
        width=width,
        height=height,
        quality=quality,
        change_every=change_every,
        password=password,
    )
