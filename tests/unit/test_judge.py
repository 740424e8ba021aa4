"""The rules that decide a camera's status after a poll, without I/O."""

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from catalog.polls import DueCamera
from ingest.image import ImageCheck
from ingest.pipeline import Fetched, judge, judge_failure, next_due

T0 = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


def camera(**changes: object) -> DueCamera:
    values: dict[str, object] = {
        "uid": "water:w1",
        "department_id": "water",
        "camera_id": "w1",
        "kind": "http",
        "target": "http://127.0.0.1:9/cam.jpg",
        "timeout_s": 10.0,
        "interval_s": 60.0,
        "status": "online",
        "status_reason": "",
        "last_sha256": None,
        "last_phash": None,
        "same_bytes_count": 0,
        "failures": 0,
        "due_at": T0,
    }
    values.update(changes)
    return DueCamera(**values)  # type: ignore[arg-type]


def fetched(sha: str = "a" * 64, flags: tuple[str, ...] = ()) -> Fetched:
    check = ImageCheck(
        width=640,
        height=360,
        brightness=120.0,
        sharpness=300.0,
        flags=flags,
        phash=12345,
        thumb=b"\xff\xd8thumb",
        thumb_width=320,
        thumb_height=180,
        decode_scale=2,
    )
    return Fetched(b"\xff\xd8jpeg", sha, check, T0 + timedelta(seconds=1))


def test_a_good_picture_makes_the_camera_online() -> None:
    result = judge(
        camera(status="offline", status_reason="timeout"), fetched(), None, random.Random(1)
    )
    assert (result.status, result.reason, result.failures) == ("online", "", 0)
    assert result.seen


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (("black",), "black image"),
        (("error_page",), "error image"),
        (("blurred",), "blurred image"),
    ],
)
def test_flagged_pictures_make_the_camera_degraded(flags: tuple[str, ...], reason: str) -> None:
    result = judge(camera(), fetched(flags=flags), None, random.Random(1))
    assert (result.status, result.reason) == ("degraded", reason)


def test_the_same_bytes_three_times_running_is_frozen() -> None:
    first = judge(camera(last_sha256="b" * 64), fetched(), None, random.Random(1))
    assert (first.status, first.same_bytes_count) == ("online", 0)
    second = judge(
        camera(last_sha256="a" * 64, same_bytes_count=0), fetched(), None, random.Random(1)
    )
    assert (second.status, second.same_bytes_count) == ("online", 1)
    third = judge(
        camera(last_sha256="a" * 64, same_bytes_count=1), fetched(), None, random.Random(1)
    )
    assert (third.status, third.reason, third.same_bytes_count) == ("degraded", "frozen", 2)


def test_failures_back_off_exponentially_up_to_a_cap() -> None:
    rng = random.Random(3)
    delays = []
    failures = 0
    for _ in range(8):
        result = judge_failure(camera(failures=failures), T0, "offline", "timeout", rng)
        failures = result.failures
        delays.append((result.next_due_at - T0).total_seconds())
    assert 54 <= delays[0] <= 66
    assert 108 <= delays[1] <= 132
    assert all(b >= a * 0.8 for a, b in itertools.pairwise(delays))
    assert max(delays) <= 1800 * 1.1


def test_success_keeps_the_cadence_and_restarts_it_when_behind() -> None:
    rng = random.Random(5)
    on_time = next_due(camera(), T0 + timedelta(seconds=2), 0, rng)
    assert abs((on_time - (T0 + timedelta(seconds=60))).total_seconds()) <= 3
    late = T0 + timedelta(seconds=600)
    behind = next_due(camera(), late, 0, rng)
    assert late + timedelta(seconds=57) <= behind <= late + timedelta(seconds=63)
    half_late = T0 + timedelta(seconds=40)  # planned T0+60 is under half an interval away
    assert next_due(camera(), half_late, 0, rng) >= half_late + timedelta(seconds=57)
