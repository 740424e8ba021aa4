"""The `plan` fixture: the search's caps shrunk so that random catalogs take each path.

Several search test modules run their brute-force comparisons under every plan.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catalog.queries import camera_drivers
from catalog.queries import cameras as cameras_module
from catalog.queries.camera_statements import forget_statements

__all__ = ["PLANS", "plan"]

# Plans, by the caps that choose them.
# (The caps as shipped, where small catalogs start from candidates, are what
# test_queries.test_random_catalog_matches_brute_force runs.)
PLANS: dict[str, dict[str, int]] = {
    "mixed": {"caps": 30},  # some filters rare, some common: either start
    "walks": {"caps": 2, "ring": 50},  # every filter common: walks, merged ranges, rings...
    "bare": {"caps": 2, "prefilter": 1},  # ...with no candidate sets to keep to
}


@pytest.fixture(params=sorted(PLANS))
def plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Shrink the caps of the search so that it takes the paths of `request.param`.

    Drivers read the caps when they are built, and built ones are kept: they
    are forgotten once the caps are shrunk, and again before they are restored.
    """
    settings = PLANS[request.param]
    # The caps hold as given at any catalog size (`SearchCaps` scales nothing).
    monkeypatch.setattr(camera_drivers, "CAPS_CAMERAS", 1)
    monkeypatch.setattr(camera_drivers, "CAPS_PAGE", 1)
    if "caps" in settings:
        caps = settings["caps"]
        monkeypatch.setattr(camera_drivers, "DEFAULT_CAP", caps)
        monkeypatch.setattr(camera_drivers, "CAPS", {"q": caps, "tag": caps})
    if "prefilter" in settings:
        monkeypatch.setattr(camera_drivers, "PREFILTER_MOST", settings["prefilter"])
    if "ring" in settings:
        monkeypatch.setattr(cameras_module, "FIRST_RING_M", float(settings["ring"]))
    forget_statements()
    yield str(request.param)
    forget_statements()
