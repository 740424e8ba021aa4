"""The operator console in a real browser: Debian's Chromium, driven by Playwright, against
`camgrid demo` started as a subprocess in a fresh folder.

One page is shared by the module's tests (they run in file order and each resets the
filters it sets); every test ends by checking that the page logged no error and no
request failed. A screenshot of the console is kept in `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urldefrag

import aiohttp
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
    expect,
)
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.fixtures.demo import running_demo

pytestmark = pytest.mark.browser
# A loaded machine (other suites running beside this one) gets some slack.
expect.set_options(timeout=10_000)

REPO: Final = Path(__file__).resolve().parents[2]
ARTIFACTS: Final = REPO / "test-artifacts"
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CAMERAS: Final = 150
#: The demo polls each camera once a minute, so a second picture of a camera exists
#: about 60 s after the demo starts; the timeline test waits that long, and no longer.
SECOND_SNAPSHOT_BY_S: Final = 75.0
CJK: Final = re.compile(r"[\u4e00-\u9fff]{2}")
STATUS_LABELS: Final = {
    "online": "在线",
    "degraded": "异常",
    "offline": "离线",
    "unknown": "未知",
    "retired": "已退役",
}


@dataclass
class Demo:
    """A running `camgrid demo`: its printed lines and when it started."""

    url: str
    token: str
    console: str
    started: float


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    """`camgrid demo --cameras 150` on a free port in a fresh folder, once half the cameras
    have a picture."""
    cwd = tmp_path_factory.mktemp("console-demo")
    started = time.monotonic()
    async with running_demo(cwd, CAMERAS) as lines:
        running = Demo(lines.url, lines.token, lines.console, started)
        await _wait_for_pictures(running, at_least=CAMERAS // 2)
        yield running


class Api:
    """The demo's API, called with its operator token."""

    def __init__(self, demo: Demo, http: aiohttp.ClientSession) -> None:
        self.base = demo.url.rstrip("/") + "/api/v1"
        self.headers = {"Authorization": f"Bearer {demo.token}"}
        self.http = http

    async def get(self, path: str, **params: str | int) -> Any:
        async with self.http.get(self.base + path, params=params, headers=self.headers) as r:
            assert r.status == 200, f"{path}: {r.status} {await r.text()}"
            return await r.json(content_type=None)

    async def post(self, path: str) -> None:
        async with self.http.post(self.base + path, headers=self.headers) as r:
            assert r.status in (201, 202), f"{path}: {r.status} {await r.text()}"

    async def cameras(self, **params: str | int) -> list[dict[str, Any]]:
        """Every camera matching `params`, through every page."""
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = await self.get(
                "/cameras", limit=1000, **params, **({"cursor": cursor} if cursor else {})
            )
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items


async def _wait_for_pictures(demo: Demo, at_least: int) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(demo, http)
        deadline = time.monotonic() + 45
        while True:
            stats = await api.get("/stats")
            if stats["snapshots"]["total"] >= at_least:
                return
            assert time.monotonic() < deadline, f"only {stats['snapshots']['total']} pictures"
            await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
async def api(demo: Demo) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as http:
        yield Api(demo, http)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watched:
    """A page and everything that went wrong on it: console errors, page errors, failed
    requests, error answers; and every URL it asked the server for."""

    page: Page
    problems: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def watch(self) -> Watched:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)
        self.page.on("request", lambda request: self.urls.append(request.url))
        return self

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} at {message.location}")

    def _failed(self, request: Request) -> None:
        # A fetch the console aborts on purpose (the filter changed) is not a failure.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"answer {response.status}: {response.url}")

    def assert_clean(self) -> None:
        assert self.problems == []


@pytest.fixture(scope="module")
async def console(browser: Browser, demo: Demo) -> AsyncIterator[Watched]:
    """The console opened through the demo's printed link, at 1280x800."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    try:
        watched = Watched(await context.new_page()).watch()
        await watched.page.goto(demo.console)
        yield watched
    finally:
        await context.close()


async def _uids(page: Page, selector: str) -> list[str]:
    uids: list[str] = await page.eval_on_selector_all(
        selector, "items => items.map(item => item.dataset.uid)"
    )
    return sorted(uids)


async def _expect_uids(page: Page, selector: str, expected: list[str]) -> None:
    """Wait until the items under `selector` are exactly `expected` (by data-uid)."""
    want = sorted(expected)
    try:
        await page.wait_for_function(
            """([selector, want]) => {
                const got = [...document.querySelectorAll(selector)].map(e => e.dataset.uid);
                return JSON.stringify(got.sort()) === JSON.stringify(want);
            }""",
            arg=[selector, want],
            timeout=10_000,
        )
    except PlaywrightTimeout:
        assert await _uids(page, selector) == want  # shows the difference


async def _reset_filters(console: Watched, every_camera: list[str]) -> None:
    await console.page.click("#clear")
    await _expect_uids(console.page, "#camera-list li[data-uid]", every_camera)


def _fragment_counts(cameras: list[dict[str, Any]]) -> Counter[str]:
    """How many camera names hold each two-character Chinese fragment."""
    return Counter(
        piece
        for camera in cameras
        for piece in {camera["name"][i : i + 2] for i in range(len(camera["name"]) - 1)}
        if CJK.fullmatch(piece)
    )


def _fragment(cameras: list[dict[str, Any]], *, most: int) -> tuple[str, int]:
    """A two-character Chinese fragment of some names, found in at most `most` cameras."""
    fitting = [(n, piece) for piece, n in _fragment_counts(cameras).items() if 2 <= n <= most]
    assert fitting, "no two-character fragment fits"
    n, piece = max(fitting)
    return piece, n


async def test_the_console_is_one_page_with_a_strict_content_policy(api: Api, demo: Demo) -> None:
    async with api.http.get(demo.url) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["Cache-Control"] == "no-cache"
        policy = response.headers["Content-Security-Policy"]
        page = await response.text()
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "img-src 'self' blob: data:;" in policy
    assert "connect-src 'self';" in policy
    # The script and the stylesheet are inlined, and admitted by their hashes only.
    assert '<script type="module">' in page
    assert "<style>" in page
    assert 'src="console.js"' not in page
    assert 'href="console.css"' not in page
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';", policy)


async def test_the_printed_link_signs_in_and_drops_the_token_from_the_address(
    console: Watched, demo: Demo
) -> None:
    page = console.page
    await expect(page.locator("#app")).to_be_visible()
    await expect(page.locator("#signin")).to_be_hidden()
    assert page.url == demo.url
    assert await page.evaluate("sessionStorage.getItem('camgrid.token')") == demo.token
    await expect(page.locator("#stats")).to_contain_text(f"摄像机 {CAMERAS}")
    assert not [url for url in console.urls if demo.token in urldefrag(url).url]
    console.assert_clean()


async def test_the_map_draws_every_cell_and_every_camera(console: Watched, api: Api) -> None:
    page = console.page
    grids = await api.get("/grids")
    located = [c for c in await api.cameras() if c["location"] is not None]
    canvas = page.locator("#map")
    await expect(canvas).to_have_attribute("data-cells", str(len(grids["features"])))
    await expect(canvas).to_have_attribute("data-points", str(len(located)))
    assert len(grids["features"]) == 288
    # Dots in the online green were really painted.
    green = await page.evaluate(
        """() => {
            const canvas = document.getElementById('map');
            const { width, height } = canvas;
            const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                if (data[i] < 90 && data[i + 1] > 150 && data[i + 2] < 120) n += 1;
            }
            return n;
        }"""
    )
    assert green > 50
    console.assert_clean()


async def test_the_wall_shows_the_latest_thumbnails(console: Watched, api: Api) -> None:
    page = console.page
    first_page = await api.get("/wall", limit=60)
    await _expect_uids(page, "#wall li[data-uid]", [t["camera_uid"] for t in first_page["items"]])
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#wall img')]
            .filter(img => !img.hidden && img.complete && img.naturalWidth > 0).length >= 8"""
    )
    shown = page.locator("#wall img:not([hidden])").first
    assert (await shown.get_attribute("src") or "").startswith("blob:")
    # A tile the page shows a picture in (ingest runs on: a camera whose first
    # picture came after the page read the wall gets it at the next refresh).
    first = page.locator("#wall li[data-uid]").filter(has=page.locator("img:not([hidden])")).first
    uid = await first.get_attribute("data-uid")
    tile = next(t for t in first_page["items"] if t["camera_uid"] == uid)
    await expect(first.locator("img")).to_have_attribute("alt", re.compile(re.escape(tile["name"])))
    await expect(first).to_contain_text(tile["name"])
    status = await first.get_attribute("data-status")
    assert status in STATUS_LABELS
    await expect(first.locator(".badge")).to_have_text(STATUS_LABELS[status])
    # Thumbnails load lazily: the tiles near the view, not the whole page of 60.
    thumbs = {url for url in console.urls if "size=thumb" in url}
    assert 8 <= len(thumbs) <= 40
    # Let every visible tile load before keeping the picture of the console.
    await page.wait_for_function(
        """() => [...document.querySelectorAll('#wall li[data-uid]')].slice(0, 12).every(
            li => li.dataset.status !== 'online' || li.querySelector('img').naturalWidth > 0)"""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console.png"))
    console.assert_clean()


async def test_a_chinese_fragment_narrows_the_list_the_map_and_the_wall(
    console: Watched, api: Api
) -> None:
    page = console.page
    everyone = await api.cameras()
    fragment, _ = _fragment(everyone, most=40)
    expected = [c["uid"] for c in await api.cameras(q=fragment)]
    assert 2 <= len(expected) < len(everyone)
    await page.locator("#q").press_sequentially(fragment, delay=60)
    await _expect_uids(page, "#camera-list li[data-uid]", expected)
    await _expect_uids(page, "#wall li[data-uid]", expected)
    await expect(page.locator("#map")).to_have_attribute("data-matched", str(len(expected)))
    await expect(page.locator("#result-count")).to_contain_text(str(len(expected)))
    await _reset_filters(console, [c["uid"] for c in everyone])
    console.assert_clean()


async def test_a_click_on_a_cell_filters_by_it(console: Watched, api: Api) -> None:
    page = console.page
    everyone = await api.cameras()
    grids = await api.get("/grids")
    cell = max(grids["features"], key=lambda f: (f["properties"]["cameras"]["total"], f["id"]))
    ring = cell["geometry"]["coordinates"][0]
    west, east = min(p[0] for p in ring), max(p[0] for p in ring)
    south, north = min(p[1] for p in ring), max(p[1] for p in ring)
    candidates = [
        [west + (east - west) * i / 6, south + (north - south) * j / 6]
        for i in range(1, 6)
        for j in range(1, 6)
    ]
    dots = [[c["location"]["lon"], c["location"]["lat"]] for c in everyone if c["location"]]
    where = await page.evaluate(
        """([candidates, dots]) => {
            const project = ([lon, lat]) => window.camgridConsole.project(lon, lat);
            const points = dots.map(project);
            const clear = candidates.map(project).map(c => ({
                ...c, room: Math.min(...points.map(p => Math.hypot(p.x - c.x, p.y - c.y))),
            }));
            return clear.sort((a, b) => b.room - a.room)[0];
        }""",
        [candidates, dots],
    )
    assert where["room"] > 9, "no spot in the cell clear of camera dots"
    await page.mouse.click(where["x"], where["y"])
    grid_id = cell["properties"]["grid_id"]
    await expect(page.locator("#grid")).to_have_value(grid_id)
    expected = [c["uid"] for c in await api.cameras(grid=grid_id)]
    assert len(expected) == cell["properties"]["cameras"]["total"] > 0
    await _expect_uids(page, "#camera-list li[data-uid]", expected)
    await _expect_uids(page, "#wall li[data-uid]", expected)
    await _reset_filters(console, [c["uid"] for c in everyone])
    console.assert_clean()


async def _second_picture(console: Watched, api: Api, demo: Demo, uid: str) -> list[Any]:
    """Make the open camera have two pictures: the console's 立即抓图 when the API offers
    captures, else the demo's next poll (about 60 s after its start) and a reopened view."""
    page = console.page
    spec = await api.get("/openapi.json")
    if "/api/v1/cameras/{uid}/capture" in spec["paths"]:
        await page.click("#capture")
        await expect(page.locator("#capture-note")).to_have_text("已抓取最新画面", timeout=15_000)
        return list((await api.get(f"/cameras/{uid}/snapshots"))["items"])
    while time.monotonic() - demo.started < SECOND_SNAPSHOT_BY_S:
        snapshots = (await api.get(f"/cameras/{uid}/snapshots"))["items"]
        if len(snapshots) >= 2:
            await page.keyboard.press("Escape")
            await page.locator(f'#camera-list li[data-uid="{uid}"] button').click()
            return list(snapshots)
        await asyncio.sleep(1)
    return list((await api.get(f"/cameras/{uid}/snapshots"))["items"])


async def test_an_operator_finds_a_camera_by_its_chinese_name_and_steps_through_its_pictures(
    console: Watched, api: Api, demo: Demo
) -> None:
    page = console.page
    everyone = await api.cameras()
    uid = next(c["uid"] for c in everyone if c["status"] == "online")
    camera = await api.get(f"/cameras/{uid}")
    name: str = camera["name"]
    pieces = {name[i : i + 2] for i in range(len(name) - 1)} & set(_fragment_counts(everyone))
    fragment = min(pieces, key=lambda piece: (_fragment_counts(everyone)[piece], piece))
    await page.locator("#q").press_sequentially(fragment, delay=60)
    item = page.locator(f'#camera-list li[data-uid="{uid}"] button')
    await expect(item).to_contain_text(name)
    await item.hover()
    await expect(page.locator("#map")).to_have_attribute("data-highlight", uid)
    await item.click()

    dialog = page.locator("#detail")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#detail-title")).to_have_text(name)
    await expect(page.locator("#map")).to_have_attribute("data-highlight", uid)
    meta = page.locator("#detail-meta")
    await expect(meta).to_contain_text(camera["address"])
    if camera["cell"] is not None:
        await expect(meta).to_contain_text(camera["cell"]["name"])
    spec = await api.get("/openapi.json")
    history = page.locator("#history")
    if "/api/v1/cameras/{uid}/events" in spec["paths"]:
        await expect(history).to_be_visible()
        await expect(history.locator("li").first).to_contain_text("在线")
    else:
        await expect(history).to_be_hidden()
    image = page.locator("#detail-image")
    time_shown = page.locator("#snap-time")
    last = camera["last_snapshot"]
    await expect(image).to_have_attribute("data-snapshot-id", str(last["id"]))
    await expect(time_shown).to_have_attribute("datetime", last["captured_at"])

    snapshots = await _second_picture(console, api, demo, uid)
    newest, *older = snapshots
    await expect(image).to_have_attribute("data-snapshot-id", str(newest["id"]))
    await page.wait_for_function(
        "() => { const img = document.getElementById('detail-image');"
        " return !img.hidden && img.complete && img.naturalWidth > 0; }"
    )
    assert await image.evaluate("img => img.naturalWidth") == newest["width"]
    await expect(image).to_have_attribute("alt", re.compile(re.escape(name)))
    await expect(time_shown).to_have_attribute("datetime", newest["captured_at"])
    if older:
        await page.click("#snap-prev")
        await expect(time_shown).to_have_attribute("datetime", older[0]["captured_at"])
        await expect(image).to_have_attribute("data-snapshot-id", str(older[0]["id"]))
        await page.keyboard.press("ArrowRight")
        await expect(time_shown).to_have_attribute("datetime", newest["captured_at"])
        await expect(image).to_have_attribute("data-snapshot-id", str(newest["id"]))
        await page.keyboard.press("ArrowLeft")
        await expect(time_shown).to_have_attribute("datetime", older[0]["captured_at"])
    else:  # the wait ran out: one picture, nothing to step to
        await expect(page.locator("#snap-prev")).to_be_disabled()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-detail.png"))
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await _reset_filters(console, [c["uid"] for c in everyone])
    console.assert_clean()


async def test_a_bad_token_leads_back_to_the_sign_in_with_a_message(
    browser: Browser, demo: Demo
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        watched = Watched(await context.new_page()).watch()
        page = watched.page
        await page.goto(f"{demo.url}#token=cg_not_a_real_token")
        await expect(page.locator("#signin")).to_be_visible()
        await expect(page.locator("#signin-error")).to_contain_text("令牌无效")
        assert page.url == demo.url
        assert await page.evaluate("sessionStorage.getItem('camgrid.token')") is None
        # The only thing that went wrong is the refused token, and the page said so.
        assert [p for p in watched.problems if not p.startswith("console error")] == [
            f"answer 401: {demo.url}api/v1/stats"
        ]
        assert all("401" in p for p in watched.problems if p.startswith("console error"))
        watched.problems.clear()
        await page.fill("#signin-token", demo.token)
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#app")).to_be_visible()
        await expect(page.locator("#wall li[data-uid]").first).to_be_visible()
        watched.assert_clean()
    finally:
        await context.close()
