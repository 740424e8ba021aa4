"""Snapshots of ``rtsp`` cameras: one frame through OpenCV's FFmpeg backend, as a JPEG.

A grab opens the stream (``cv2.VideoCapture(url, cv2.CAP_FFMPEG)``), reads the first
decodable frame, closes the stream and encodes the frame with ``cv2.imencode``.

**Where it runs.** A grab blocks a thread for the whole exchange: connecting,
DESCRIBE/SETUP/PLAY, probing, waiting for a key frame (up to a GOP: 0.5-2 s on real
cameras), then a little CPU to decode one frame and encode it. So grabs run in the
connector's *own* small thread pool (:data:`DEFAULT_THREADS`), not in the context's
executor: that one is the worker's image pool, sized to the CPU count (2 here) for
JPEG checks of every camera, and a few slow streams parked in it would stall the
checks of all the HTTP cameras. An :class:`asyncio.Semaphore` of the same size admits
grabs, so a camera's timeout starts when its grab does, not while it queues.

**Fast first frame.** FFmpeg's defaults probe a stream for up to 5 s (1 s on the
test stream before the first frame); the options here (:data:`CAPTURE_OPTIONS`,
FFmpeg's ``key;value|key;value`` form read by OpenCV from
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` at each open) interleave RTP over TCP (one
connection, through NAT and firewalls, no lost packets) and stop probing after
32 KiB or 0.1 s: the stream's parameters come from the SDP and the first key frame,
and the first frame then takes 0.17 s on the test stream. ``fflags;nobuffer`` is
left out on purpose: it throws away the packets read while probing -- the first key
frame among them -- so the first frame waits for the next key frame (0.6 s on the
test stream, a whole GOP of 1-2 s on a real camera), and it breaks seeking in video
files. The variable is process-wide: it is set once at import unless the operator
has set it; the file connector's videos get it too, and these options are harmless
to them (its tests run with them). FFmpeg's own log is quieted the same way
(``OPENCV_FFMPEG_LOGLEVEL``): every failure is reported through a
:class:`SnapshotError` instead, and one camera that is down would otherwise print a
line per poll. OpenCV's own warnings are lowered to errors for the same reason,
unless ``OPENCV_LOG_LEVEL`` is set.

Open and read timeouts are passed per capture (``CAP_PROP_OPEN_TIMEOUT_MSEC`` and
``CAP_PROP_READ_TIMEOUT_MSEC``, half of the target's timeout each), and the decoder
gets one thread (``CAP_PROP_N_THREADS``): frame threads would hold the first frame
back by one frame per thread, for no gain on a single picture.

**Credentials** are written into the URL's userinfo, percent-encoded, only inside
the grab (FFmpeg answers Basic and Digest challenges from there); that URL is never
logged, never put in a reason, and exceptions raised around it are not chained.

**Errors.** OpenCV does not say why a stream did not open; the connector then asks
the camera with one ``DESCRIBE`` (:mod:`ingest.connectors.rtsp_probe`) and raises
:class:`CameraUnreachable`, :class:`CameraTimeout`, :class:`AuthRejected` or
:class:`BadResponse` accordingly. A stream that opens but yields no frame in time is
``timeout``; one that ends without a frame is ``no frame``.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import cv2

from ingest.connectors.base import (
    BadResponse,
    BodyTooLarge,
    CameraTarget,
    CameraTimeout,
    ConnectorContext,
    SnapshotError,
)
from ingest.connectors.rtsp_probe import diagnose

#: FFmpeg options for every capture (OpenCV's ``key;value|key;value`` syntax)
CAPTURE_OPTIONS = "rtsp_transport;tcp|analyzeduration;100000|probesize;32768"
#: FFmpeg's log level for OpenCV's captures: AV_LOG_QUIET
FFMPEG_LOGLEVEL = "-8"
DEFAULT_THREADS = 8
JPEG_QUALITY = 90
#: a stage that ends this close to its timeout ran out of time
_TIMEOUT_SHARE = 0.9
#: how long past the target's timeout the loop waits for a grab's thread, at most
_BACKSTOP_S = 2.0
#: time left to the DESCRIBE that explains a failed open, at the least
_MIN_DIAGNOSIS_S = 1.0

os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", CAPTURE_OPTIONS)
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_LOGLEVEL)
if "OPENCV_LOG_LEVEL" not in os.environ:
    # OpenCV itself warns on every stream that does not open ("can't be used to capture
    # by name"): a line per poll of a camera that is down, saying less than our reason
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@dataclass(frozen=True)
class Grab:
    """What one blocking grab brought: a JPEG, or the stage that failed and how long it took."""

    jpeg: bytes | None
    failed: Literal["open", "read", None]
    stage_s: float


def url_with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username:password@`` as its userinfo, both percent-encoded.

    Without a username the URL is returned as it is (any userinfo it has is kept).
    """
    if username is None:
        return url
    parts = urlsplit(url)
    hostport = parts.netloc.rpartition("@")[2]
    userinfo = quote(username, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit((parts.scheme, f"{userinfo}@{hostport}", parts.path, parts.query, ""))


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``(url without userinfo, username, password)``, the names percent-decoded."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, None, None
    hostport = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, hostport, parts.path, parts.query, ""))
    password = None if parts.password is None else unquote(parts.password)
    return bare, unquote(parts.username), password


def grab_jpeg(url: str, stage_timeout_s: float, quality: int = JPEG_QUALITY) -> Grab:
    """Blocking: open ``url``, read one frame, close, encode; never raises for the camera.

    Opening and reading get ``stage_timeout_s`` each. ``url`` may hold credentials: it
    must not reach a log line or an exception.
    """
    timeout_ms = max(1, round(stage_timeout_s * 1000))
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        timeout_ms,
        cv2.CAP_PROP_N_THREADS,
        1,
    ]
    started = time.monotonic()
    try:
        capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    except cv2.error:
        return Grab(None, "open", time.monotonic() - started)
    try:
        if not capture.isOpened():
            return Grab(None, "open", time.monotonic() - started)
        started = time.monotonic()
        try:
            ok, frame = capture.read()
        except cv2.error:
            ok, frame = False, None
        if not ok or frame is None:
            return Grab(None, "read", time.monotonic() - started)
    finally:
        capture.release()
    encoded, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not encoded:  # pragma: no cover - encoding a decoded frame does not fail
        return Grab(None, "read", time.monotonic() - started)
    return Grab(buffer.tobytes(), None, time.monotonic() - started)


class RtspSnapshotConnector:
    """Takes snapshots of ``rtsp`` cameras in a pool of its own (``threads`` grabs at once)."""

    def __init__(self, ctx: ConnectorContext, *, threads: int = DEFAULT_THREADS) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="rtsp")
        self._slots = asyncio.Semaphore(threads)

    def close(self) -> None:
        """Let the pool's threads end once their grabs (bounded by the timeouts) finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def fetch(self, target: CameraTarget) -> bytes:
        """One frame of the target's stream as JPEG bytes, within ``target.timeout_s``."""
        if not target.url:
            raise SnapshotError("no URL")
        bare, url_user, url_password = split_credentials(target.url)
        if urlsplit(bare).scheme not in ("rtsp", "rtsps") or not urlsplit(bare).hostname:
            raise BadResponse("invalid URL")
        username, password = target.username, target.password
        if username is None:
            username, password = url_user, url_password
        stage_s = target.timeout_s / 2  # opening, then reading: the two fit in the timeout
        loop = asyncio.get_running_loop()
        async with self._slots:
            started = time.monotonic()
            future = loop.run_in_executor(
                self._pool, grab_jpeg, url_with_credentials(bare, username, password), stage_s
            )
            try:
                # OpenCV's own timeouts end the grab; this bound is a backstop for the loop
                grab = await asyncio.wait_for(future, target.timeout_s + _BACKSTOP_S)
            except TimeoutError:
                raise CameraTimeout() from None
        if grab.jpeg is not None:
            if len(grab.jpeg) > target.max_bytes:
                raise BodyTooLarge()
            return grab.jpeg
        if grab.stage_s >= stage_s * _TIMEOUT_SHARE:
            raise CameraTimeout()
        if grab.failed == "read":
            raise SnapshotError("no frame")
        left = max(_MIN_DIAGNOSIS_S, target.timeout_s - (time.monotonic() - started))
        raise await diagnose(bare, username, password or "", left)
