"""What the `camgrid serve` process tests share: a config over farm cameras, metric samples.

`write_config` deals a farm's cameras round-robin to three departments (uids
`DEPARTMENT:cam-NNNN`) with one grid cell; `samples` and `by_department` read
a Prometheus exposition; `wait_until` waits for a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Final

import yaml
from prometheus_client.parser import text_string_to_metric_families

from ingest.farm import CameraFarm

REPO: Final = Path(__file__).resolve().parents[2]
DEPARTMENTS: Final = ("water", "chengguan", "edu")
#: how long a `serve` process may take to say it listens
READY_TIMEOUT_S: Final = 30.0


def department_of(index: int) -> str:
    return DEPARTMENTS[index % len(DEPARTMENTS)]


def uid_of(index: int) -> str:
    return f"{department_of(index)}:cam-{index:04d}"


def write_config(root: Path, farm: CameraFarm, interval: str, timeout: str) -> None:
    """A department file per department (cameras dealt round-robin) and one grid cell."""
    (root / "departments").mkdir(parents=True)
    for department in DEPARTMENTS:
        cameras = [
            {
                "id": f"cam-{i:04d}",
                "name": f"{department} 摄像机 {i}",
                "location": {"lon": 113.1 + (i % 20) * 0.0004, "lat": 27.8 + (i // 20) * 0.0004},
                "snapshot": {"kind": "http", "url": farm.url(i)},
            }
            for i in range(len(farm.cameras))
            if department_of(i) == department
        ]
        document = {
            "department": {"id": department, "name": f"{department} 局"},
            "defaults": {"interval": interval, "timeout": timeout},
            "cameras": cameras,
        }
        (root / "departments" / f"{department}.yaml").write_text(
            yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    ring = [[113.09, 27.79], [113.12, 27.79], [113.12, 27.82], [113.09, 27.82], [113.09, 27.79]]
    cell = {
        "type": "Feature",
        "properties": {"grid_id": "W1", "name": "网格W1", "community": "社区", "street": "街道"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    (root / "grids").mkdir()
    (root / "grids" / "cells.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [cell]}, ensure_ascii=False),
        encoding="utf-8",
    )


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of metric `name` in an exposition, keyed by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def by_department(found: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    totals: defaultdict[str, float] = defaultdict(float)
    for labels, value in found.items():
        totals[dict(labels)["department"]] += value
    return dict(totals)


async def wait_until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {within_s} s waiting for {what}"
        await asyncio.sleep(0.1)
