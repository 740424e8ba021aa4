"""The rules that decide a camera's status after a poll, without I/O."""

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from catalog.polls import DueCamera
from ingest.image import ImageCheck
from ingest.pipeline import Fetched, judge, judge_failure, next_due, poll_slot

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


def test_success_keeps_the_cameras_slot_and_skips_one_when_behind() -> None:
    rng = random.Random(5)
    slot = poll_slot("water:w1", 60.0, T0)
    assert T0 <= slot < T0 + timedelta(seconds=60)
    # On time: a poll that ended 2 s after its slot is due again one interval later.
    on_time = next_due(camera(due_at=slot), slot + timedelta(seconds=2), 0, rng)
    assert abs(on_time - (slot + timedelta(seconds=60))) < timedelta(milliseconds=1)
    after = next_due(camera(due_at=on_time), on_time + timedelta(seconds=1), 0, rng)
    assert abs(after - (slot + timedelta(seconds=120))) < timedelta(milliseconds=1)
    # Behind: the first of its slots at least half an interval away, never sooner.
    for late_s in (31, 40, 89, 600):
        late = slot + timedelta(seconds=late_s)
        behind = next_due(camera(due_at=slot), late, 0, rng)
        assert late + timedelta(seconds=30) <= behind < late + timedelta(seconds=90)
        intervals = (behind - slot).total_seconds() / 60
        assert intervals == pytest.approx(round(intervals), abs=1e-6)  # on one of its slots


def test_slots_spread_cameras_evenly_over_the_interval() -> None:
    """Cameras synced together (their first polls within seconds) come due spread out."""
    interval = 60.0
    offsets = [(poll_slot(f"d:cam-{i:05}", interval, T0) - T0).total_seconds() for i in range(2000)]
    per_tenth = [sum(1 for o in offsets if k * 6 <= o < (k + 1) * 6) for k in range(10)]
    assert all(150 <= n <= 250 for n in per_tenth), per_tenth
