"""The benchmarks' own arithmetic: wrk output parsing, percentiles, the synthetic province."""

from __future__ import annotations

import os
import time

import pytest

from bench.api import parse_wrk, process_cpu_s
from bench.catalog import percentile
from bench.ingest import round_ratios
from bench.province import make_province, snapshot_columns, snapshot_span

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8080
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.21ms    3.10ms  61.02ms   90.12%
    Req/Sec     1.96k   210.33     2.40k    71.50%
  Latency Distribution
     50%    7.80ms
     75%    9.12ms
     90%   11.04ms
     99%    1.02s
  39012 requests in 10.01s, 12.34MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3897.45
Transfer/sec:      1.23MB
"""


def test_wrk_output_is_parsed() -> None:
    figures = parse_wrk(WRK_OUTPUT)
    assert figures["rps"] == pytest.approx(3897.45)
    assert figures["p50_ms"] == pytest.approx(7.80)
    assert figures["p99_ms"] == pytest.approx(1020.0)
    assert figures["requests"] == 39012
    assert figures["non_2xx"] == 5
    assert figures["socket_errors"] == 3


def test_percentiles_interpolate() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile([3.0], 0.99) == 3.0


def test_the_province_is_reproducible_and_snapshots_come_in_time_order() -> None:
    a, b = make_province(300, seed=1), make_province(300, seed=1)
    assert a.cameras == b.cameras
    assert len({c["uid"] for c in a.cameras}) == 300
    chunks = list(snapshot_columns(300, 2_000, chunk=700))
    assert sum(len(c.camera) for c in chunks) == 2_000
    times = [t for c in chunks for t in c.captured_at_us.tolist()]
    assert times == sorted(times)
    first, last = snapshot_span(300, 2_000)
    rows = list(chunks[0].rows(a.uids, a.uids))
    assert rows[0][0] == 1
    assert first.strftime("%Y-%m-%d %H:%M") <= rows[0][2][:16] < last.strftime("%Y-%m-%d %H:%M:%S")


def test_process_cpu_counts_this_process_busy_time() -> None:
    before = process_cpu_s(os.getpid())
    spin_until = time.process_time() + 0.2
    while time.process_time() < spin_until:
        pass
    assert 0.15 <= process_cpu_s(os.getpid()) - before < 5.0


def test_each_round_has_its_own_ratio() -> None:
    reference = [{"seen": 3000, "window_s": 10.0}, {"seen": 3300, "window_s": 11.0}]
    camgrid = [{"seen": 2100, "window_s": 10.0}, {"seen": 2000, "window_s": 10.0}]
    assert round_ratios(reference, camgrid) == [0.7, 0.667]
