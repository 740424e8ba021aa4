"""Where a camera search stops listing candidates and walks: caps scaled to the catalog."""

from __future__ import annotations

from catalog.queries.camera_drivers import (
    CAPS,
    CAPS_CAMERAS,
    CAPS_PAGE,
    DEFAULT_CAP,
    PREFILTER_MOST,
    SearchCaps,
    drivers,
)
from catalog.queries.camera_filters import CameraFilter


def _caps(caps: SearchCaps) -> dict[str, int]:
    f = CameraFilter(q="泵站", tags=("gate",), departments=("water", "police"))
    return {d.name: caps.cap(d) for d in drivers(f, "sqlite")}


def test_the_measured_caps_hold_at_the_size_they_were_measured_at() -> None:
    measured = {"department": DEFAULT_CAP, "tag": CAPS["tag"], "q": CAPS["q"]}
    assert _caps(SearchCaps.of_search(CAPS_CAMERAS, CAPS_PAGE)) == measured
    assert SearchCaps.of_search(CAPS_CAMERAS, CAPS_PAGE).prefilter_most == PREFILTER_MOST
    # Unknown size (PostgreSQL before its first ANALYZE): the measured caps.
    assert _caps(SearchCaps.of_search(None, CAPS_PAGE)) == measured
    # A larger catalog or page is never given more than was measured.
    assert _caps(SearchCaps.of_search(10 * CAPS_CAMERAS, 1000)) == measured


def test_caps_shrink_with_the_square_root_of_catalog_size_and_page() -> None:
    district = SearchCaps.of_search(2_000, 101)  # a tenth of the square root
    assert _caps(district) == {"department": 300, "tag": 400, "q": 450}
    assert district.prefilter_most == 1_000
    assert _caps(SearchCaps.of_search(2_000, 11)) == {"department": 99, "tag": 132, "q": 148}
    # Never below one: the smallest catalog still starts from a single candidate.
    assert _caps(SearchCaps.of_search(0, 1)) == {"department": 1, "tag": 1, "q": 1}
