"""The planner map in a real browser: Debian's Chromium driven by Playwright.

A real ``uvicorn`` server on a free loopback port (demo network, temporary data directory,
a reporter key made by ``corridors keys create``); the test enters the key, clicks two points
on the road network, asks for a route, checks the escort panel, files an incident report
from the map, asserts the browser logged no error and fetched nothing off this machine, and
saves a screenshot to ``test-artifacts/map.png``.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``), the ``playwright`` package (never
``playwright install``: the system browser is used) and Leaflet (``npm ci`` in
``src/corridors/web``); skipped, with the reason, when one is missing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from corridors.api.app import create_app
from corridors.config import Settings
from corridors.web.page import LEAFLET_DIST

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path(os.environ.get("CORRIDORS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
RECOMMENDATIONS = {"none", "police_escort", "armed_escort", "do_not_travel"}


#: Runs the ``corridors`` console script in this interpreter.
_CLI = "import sys; from corridors.cli import main; sys.argv[0] = 'corridors'; main()"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _post_json(url: str, key: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Server:
    url: str
    key: str
    analyst_key: str
    log: Path


def _missing_prerequisite() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is absent (apt-get install chromium)"
    if not (LEAFLET_DIST / "leaflet-src.esm.js").is_file():
        return "Leaflet is not installed (npm ci in src/corridors/web)"
    paths = create_app(Settings()).openapi()["paths"]
    for path, method in (("/v1/routes", "post"), ("/v1/risk", "get")):
        if method not in paths.get(path, {}):
            return f"the service has no {method} {path} yet"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    data_dir = tmp_path_factory.mktemp("browser-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDORS_")}
    env["CORRIDORS_DATA_DIR"] = str(data_dir)
    made = _cli("keys", "create", "--role", "reporter", "--name", "browser-test", env=env)
    if made.returncode != 0:
        if "No such command" in made.stderr or "keys" not in _cli("--help", env=env).stdout:
            pytest.skip("`corridors keys create` is not available")
        pytest.fail(f"corridors keys create failed: {made.stderr.strip()}")
    key = made.stdout.strip().splitlines()[-1]
    analyst = _cli("keys", "create", "--role", "analyst", "--name", "browser-analyst", env=env)
    assert analyst.returncode == 0, analyst.stderr
    analyst_key = analyst.stdout.strip().splitlines()[-1]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _CLI, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited early:\n{log.read_text()}")
            try:
                if _get_json(f"{url}/readyz")["status"] == "ok":
                    break
            except (OSError, urllib.error.URLError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not become ready:\n{log.read_text()}")
            time.sleep(0.25)
        yield Server(url, key, analyst_key, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def _two_points(network: dict[str, Any], bbox: list[float]) -> tuple[list[float], list[float]]:
    """Road vertices near a quarter and three quarters across the network, west to east."""
    min_lon, min_lat, max_lon, max_lat = bbox
    vertices = [c for f in network["features"] for c in f["geometry"]["coordinates"]]
    mid_lat = (min_lat + max_lat) / 2

    def nearest(lon: float) -> list[float]:
        return min(vertices, key=lambda c: (c[0] - lon) ** 2 + (c[1] - mid_lat) ** 2)

    return nearest(min_lon + 0.3 * (max_lon - min_lon)), nearest(
        min_lon + 0.7 * (max_lon - min_lon)
    )


def _seed(
    server: Server, network: dict[str, Any], origin: list[float], destination: list[float]
) -> int:
    """Reports near the middle of the trip and a caution zone, so every layer has content."""
    vertices = [c for f in network["features"] for c in f["geometry"]["coordinates"]]
    middle = ((origin[0] + destination[0]) / 2, (origin[1] + destination[1]) / 2)
    near = sorted(vertices, key=lambda c: (c[0] - middle[0]) ** 2 + (c[1] - middle[1]) ** 2)
    occurred = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    reports = [
        ("armed_clash", 5, near[0]),
        ("roadblock", 4, near[3]),
        ("abduction", 3, near[8]),
    ]
    for category, severity, (lon, lat) in reports:
        _post_json(
            f"{server.url}/v1/reports",
            server.key,
            {
                "occurred_at": occurred,
                "location": {"lon": lon, "lat": lat},
                "uncertainty_m": 100,
                "category": category,
                "severity": severity,
                "description": "seeded by the browser test",
            },
        )
    lon, lat = destination
    d = 0.006
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    _post_json(
        f"{server.url}/v1/zones",
        server.analyst_key,
        {
            "name": "Browser test caution",
            "kind": "caution",
            "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
            "multiplier": 2.0,
        },
    )
    return len(reports)


def test_plan_a_route_and_file_a_report_in_the_browser(server: Server, browser: Any) -> None:
    from playwright.sync_api import Page, Route

    network = _get_json(f"{server.url}/v1/graph/network", server.key)
    graph = _get_json(f"{server.url}/v1/graph")
    origin, destination = _two_points(network, graph["bbox"])
    seeded = _seed(server, network, origin, destination)

    console_errors: list[str] = []
    off_machine: list[str] = []

    def guard(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if urlsplit(route.request.url).scheme in ("http", "https") and host not in LOOPBACK:
            off_machine.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def click_lonlat(page: Page, lonlat: list[float]) -> None:
        x, y = page.evaluate(
            "([lon, lat]) => { const p = window.corridors.map.latLngToContainerPoint([lat, lon]);"
            " return [p.x, p.y]; }",
            lonlat,
        )
        box = page.locator("#map").bounding_box()
        assert box is not None
        assert 0 < x < box["width"], "point off the visible map"
        assert 0 < y < box["height"], "point off the visible map"
        page.mouse.click(box["x"] + x, box["y"] + y)

    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 820})
    try:
        page = context.new_page()
        page.on(
            "console",
            lambda m: console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: console_errors.append(f"uncaught: {e}"))
        page.route("**/*", guard)

        page.goto(f"{server.url}/map")
        page.get_by_label("API key (sent as X-API-Key)").fill(server.key)
        page.get_by_role("button", name="Use key").click()
        page.wait_for_selector("#map[data-loaded='true']", state="attached", timeout=30_000)
        assert page.locator("#map").get_attribute("data-network-features") == str(
            len(network["features"])
        )
        assert page.locator("#results").is_hidden()
        assert page.locator(".report-pin").count() == seeded
        assert page.locator("#map path.leaflet-interactive").count() >= 1  # the zone
        assert "not available" not in page.locator("#layer-status").inner_text()
        page.screenshot(path=str(ARTIFACTS / "map-layers.png"))

        click_lonlat(page, origin)
        click_lonlat(page, destination)
        assert page.locator("#origin").input_value() != ""
        assert page.locator("#destination").input_value() != ""

        page.get_by_role("button", name="Route", exact=True).click()
        # Selectors, not predicates: the page's CSP forbids the eval they would need.
        page.wait_for_selector(
            "#escort-panel[data-recommendation]:not([data-recommendation=''])",
            timeout=60_000,
        )
        panel = page.locator("#escort-panel")
        assert panel.is_visible()
        assert panel.get_attribute("data-recommendation") in RECOMMENDATIONS
        assert page.locator("#escort-recommendation").inner_text().strip() != ""
        assert page.locator("#escort-rationale li").count() >= 1
        assert page.locator("#route-list li").count() >= 1
        assert page.locator("path.route-line").count() >= 1
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        page.mouse.move(5, 5)  # off the map: no hover tooltip in the screenshot
        page.locator(".leaflet-tooltip").wait_for(state="detached", timeout=5_000)
        page.screenshot(path=str(ARTIFACTS / "map.png"))

        # File a report from the map with the reporter key.
        page.get_by_label("incident location (report mode)").check()
        click_lonlat(page, origin)
        assert page.locator("#report-location").input_value() != ""
        page.get_by_label("Category").select_option("roadblock")
        page.get_by_label("Severity").select_option("2")
        page.get_by_label("Description").fill("Barricade of burning tyres (browser test)")
        page.get_by_role("button", name="Submit report").click()
        page.locator("#message", has_text="Report stored").wait_for(timeout=30_000)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
    finally:
        context.close()

    stored = _get_json(f"{server.url}/v1/reports", server.key)["items"]
    assert len(stored) == seeded + 1
    assert sorted(
        (r["category"], r["severity"]) for r in stored if r["category"] == "roadblock"
    ) == [
        ("roadblock", 2),
        ("roadblock", 4),
    ]
    assert console_errors == [], f"console errors: {console_errors}\n{server.log.read_text()}"
    assert off_machine == []


def test_errors_from_the_service_are_shown(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 820})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/map")
        # Routing without points is refused on the page itself.
        page.get_by_role("button", name="Route", exact=True).click()
        error = page.locator("#error")
        error.wait_for(state="visible")
        assert "origin" in error.inner_text().lower()
        # A wrong key: the problem's detail is shown and the key section opened again.
        page.get_by_label("API key (sent as X-API-Key)").fill("cor_wrong_key")
        page.get_by_role("button", name="Use key").click()
        page.locator("#key-status", has_text="refused").wait_for(timeout=15_000)
        assert error.is_visible()
        text = error.inner_text()
        assert text.startswith("Could not load")
        assert "key" in text.lower()
        assert page.locator("#key-section").get_attribute("open") is not None
        # Points far from any road: the 422 detail of POST /v1/routes reaches the planner.
        page.get_by_label("API key (sent as X-API-Key)").fill(server.key)
        page.get_by_role("button", name="Use key").click()
        page.wait_for_selector("#map[data-network-features]", state="attached")
        min_lon, min_lat, max_lon, max_lat = _get_json(f"{server.url}/v1/graph")["bbox"]
        far = f"{max_lon + 0.01:.5f}, {min_lat - 0.01:.5f}"
        page.get_by_label("Origin (lon, lat)").fill(far)
        page.get_by_label("Origin (lon, lat)").press("Tab")
        page.get_by_label("Destination (lon, lat)").fill(f"{min_lon:.5f}, {max_lat:.5f}")
        page.get_by_label("Destination (lon, lat)").press("Tab")
        page.get_by_role("button", name="Route", exact=True).click()
        page.locator("#error", has_text="Routing failed").wait_for(timeout=30_000)
        problem = _post_problem(
            f"{server.url}/v1/routes",
            server.key,
            {
                "origin": dict(zip(("lon", "lat"), map(float, far.split(", ")), strict=True)),
                "destination": {"lon": min_lon, "lat": max_lat},
            },
        )
        assert problem["status"] == 422
        assert problem["detail"] in error.inner_text()
    finally:
        context.close()


def _post_problem(url: str, key: str, body: dict[str, Any]) -> Any:
    try:
        _post_json(url, key, body)
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())
    raise AssertionError("expected an error answer")
