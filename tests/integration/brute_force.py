"""A random catalog and an exact brute-force reading of the camera filter rules.

`brute_force` reads the rules of DESIGN.md plainly, in Python, so that
`test_queries.test_random_catalog_matches_brute_force` and `test_search` can
compare every paged answer with it. Not a test module.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from catalog.crs import from_wgs84, haversine_m, to_wgs84
from catalog.models import CAMERA_STATUSES, Camera, GridCell
from catalog.queries.cameras import CameraFilter
from tests.integration.catalog_rows import make_camera, make_cell, make_department

_WORDS = ["建设路", "红旗", "泵站", "学校", "Gate", "north", "Road", "100%", "a_b", "x\\y", "湘江"]
_TAGS = ["crossroad", "school", "gate", "pump", "river"]
_KINDS = ["http", "rtsp", "onvif", "file"]


def random_catalog(rng: random.Random, n: int) -> tuple[list[Any], list[Camera], list[GridCell]]:
    """Departments, a 3x2 grid over 3 communities, and `n` random cameras."""
    departments = [make_department(d) for d in ("chengguan", "water", "edu")]
    cells: list[GridCell] = []
    for i in range(3):
        for j in range(2):
            x0, y0 = 113.10 + i * 0.03, 27.80 + j * 0.04
            cells.append(
                make_cell(f"G{i}{j}", f"社区{(i + j) % 3}", (x0, y0, x0 + 0.03, y0 + 0.04))
            )
    cameras: list[Camera] = []
    for k in range(n):
        lon: float | None = round(rng.uniform(113.08, 113.22), rng.choice([3, 4, 6]))
        lat: float | None = round(rng.uniform(27.78, 27.90), rng.choice([3, 4, 6]))
        if rng.random() < 0.05:
            lon = lat = None
        grid = None
        if lon is not None and lat is not None:
            inside = [
                c.grid_id
                for c in cells
                if c.min_lon <= lon < c.max_lon and c.min_lat <= lat < c.max_lat
            ]
            grid = inside[0] if inside else None
        name = "".join(rng.sample(_WORDS, rng.randint(1, 3)))
        if rng.random() < 0.3:
            name = name.upper() if rng.random() < 0.5 else name.lower()
        cameras.append(
            make_camera(
                rng.choice(departments).id,
                f"{rng.choice(['A', 'a', 'b', 'B', '0', '-', '_'])}{k:04d}",
                name=name,
                address=rng.choice(["", "芦淞区", "Hetang District", "天元区 5%"]),
                lon=lon,
                lat=lat,
                grid_id=grid,
                kind=rng.choice(_KINDS),
                tags=rng.sample(_TAGS, rng.randint(0, 2)),
                status=rng.choice(CAMERA_STATUSES),
            )
        )
    return [*departments, *cells, *cameras], cameras, cells


def _attributes_match(c: Camera, f: CameraFilter, community_cells: set[str]) -> bool:
    """Every non-spatial filter, read plainly."""
    if f.statuses and c.status not in f.statuses:
        return False
    if not f.statuses and c.status == "retired":
        return False
    checks = [
        (f.departments, c.department_id),
        (f.kinds, c.kind),
        (f.grid_ids, c.grid_id),
    ]
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    if f.communities and c.grid_id not in community_cells:
        return False
    if f.tags and not set(f.tags) & set(c.tags):
        return False
    q = (f.q or "").lower()
    return q in c.name.lower() or q in c.address.lower()


def brute_force(
    cameras: Sequence[Camera], cells: Sequence[GridCell], f: CameraFilter
) -> list[tuple[str, float | None]]:
    """The rules of DESIGN.md read plainly: (uid, distance) in answer order."""
    community_cells = {c.grid_id for c in cells if c.community in f.communities}
    center = to_wgs84(f.crs, *f.near) if f.near is not None else None
    found: list[tuple[str, float | None]] = []
    for c in cameras:
        if not _attributes_match(c, f, community_cells):
            continue
        distance = None
        if f.bbox is not None or center is not None:
            if c.lon is None or c.lat is None:
                continue
            x, y = from_wgs84(f.crs, c.lon, c.lat)
            if f.bbox is not None and not (
                f.bbox[0] <= x <= f.bbox[2] and f.bbox[1] <= y <= f.bbox[3]
            ):
                continue
            if center is not None:
                distance = haversine_m(center[0], center[1], c.lon, c.lat)
                if distance > (f.radius_m or 0.0):
                    continue
        found.append((c.uid, distance))
    if center is not None:
        return sorted(found, key=lambda item: (item[1] or 0.0, item[0]))
    return sorted(found)


def random_filter(
    rng: random.Random, cameras: Sequence[Camera], cells: Sequence[GridCell]
) -> CameraFilter:
    """One to three random filters, with edges often placed exactly on a camera."""
    located = [c for c in cameras if c.lon is not None and c.lat is not None]
    crs = rng.choice(["wgs84", "wgs84", "gcj02", "bd09"])
    kwargs: dict[str, Any] = {"crs": crs}
    for what in rng.sample(["bbox", "near", "grid", "community", "department", "status",
                            "kind", "tag", "q"], rng.randint(1, 3)):  # fmt: skip
        if what in ("bbox", "near"):
            a, b = rng.sample(located, 2)
            assert a.lon is not None
            assert a.lat is not None
            assert b.lon is not None
            assert b.lat is not None
            ax, ay = from_wgs84(crs, a.lon, a.lat)
            bx, by = from_wgs84(crs, b.lon, b.lat)
            if what == "bbox":
                kwargs["bbox"] = (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))
            else:
                kwargs["near"] = (ax, ay)
                # Often exactly the distance to another camera, to test the inclusive edge.
                exact = haversine_m(*to_wgs84(crs, ax, ay), b.lon, b.lat)
                kwargs["radius_m"] = exact if rng.random() < 0.5 else rng.uniform(50, 6000)
        elif what == "grid":
            kwargs["grid_ids"] = tuple(rng.sample([c.grid_id for c in cells], rng.randint(1, 3)))
        elif what == "community":
            kwargs["communities"] = tuple(
                rng.sample(["社区0", "社区1", "社区2"], rng.randint(1, 2))
            )
        elif what == "department":
            kwargs["departments"] = tuple(
                rng.sample(["chengguan", "water", "edu"], rng.randint(1, 2))
            )
        elif what == "status":
            kwargs["statuses"] = tuple(rng.sample(CAMERA_STATUSES, rng.randint(1, 3)))
        elif what == "kind":
            kwargs["kinds"] = tuple(rng.sample(_KINDS, rng.randint(1, 2)))
        elif what == "tag":
            kwargs["tags"] = tuple(rng.sample(_TAGS, rng.randint(1, 2)))
        else:
            source = rng.choice(cameras)
            text = rng.choice([source.name, source.address or source.name])
            start = rng.randrange(len(text))
            q = text[start : start + rng.randint(1, 3)]
            kwargs["q"] = q.swapcase() if rng.random() < 0.3 else q
    return CameraFilter(**kwargs)
