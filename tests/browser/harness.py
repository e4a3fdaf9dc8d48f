"""What every browser test shares: Chromium, a running app, signing in, screenshots, settling.

Debian's Chromium driven by Playwright; a test module importing this skips with a reason when
Playwright is missing, and ``BROWSER_MARKS`` skips it when /usr/bin/chromium is. Screenshots go
to test-artifacts/ (gitignored). The fixtures (``running_app``, ``browser``) are in conftest.py.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from core.clock import ManualClock
from core.settings import Settings
from tests.factories import TEST_SECRET_KEY

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 10:00 in Seoul
PASSWORD = "correct horse battery"
# The open case's explanation, as the seeded app (conftest.running_app) stores it.
EXPLANATION = "전기포트를 평소 08:00까지 쓰셨는데 오늘은 아직 사용이 없습니다 (마지막: 어제 19:40)"
EXPLANATION_EN = "Usually uses the kettle by 08:00; nothing today yet (last: yesterday 19:40)"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@dataclass(frozen=True)
class Seeded:
    base_url: str
    engine: Any
    household_code: str
    case_id: int


@contextmanager
def serve(engine: Any, clock: ManualClock) -> Iterator[str]:
    """The app on a free local port in a thread, for as long as the block runs; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(_env_file=None, env="test", secret_key=TEST_SECRET_KEY, public_base_url=base_url)
    app = create_app(settings, engine, clock)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):  # poll the server's own flag, up to 10 s
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium, closed when the block ends."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Counts the page's fetches in flight (an init script is injected by the browser, not by the page,
# so CSP does not apply). The live notice's event stream is an EventSource, not a fetch.
_COUNT_FETCHES = """(() => {
  const fetch = window.fetch.bind(window);
  window.anbuInFlight = 0;
  window.fetch = (...args) => {
    window.anbuInFlight += 1;
    return fetch(...args).finally(() => { window.anbuInFlight -= 1; });
  };
})();"""
# True once no fetch is in flight and the page has not changed between two polls 300 ms apart.
_SETTLED = """() => {
  const now = document.documentElement.scrollHeight + ":" + document.getElementsByTagName("*").length;
  const same = window.anbuLastLayout === now && !window.anbuInFlight;
  window.anbuLastLayout = now;
  return same;
}"""


def count_fetches(page: Any) -> None:
    """Let settle see the page's requests: call before the page's first goto."""
    page.add_init_script(_COUNT_FETCHES)


def settle(page: Any) -> None:
    """Wait until every request the page made has answered and what it drew has settled. Not
    "networkidle": the live notice keeps an event stream open on every screen."""
    page.wait_for_function(_SETTLED, polling=300)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def sign_in(page: Any, base_url: str, username: str, query: str = "") -> None:
    page.goto(f"{base_url}/{query}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#views-nav", state="visible")


# The elements wider than the screen, to say what overflows when the page does.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const node of document.querySelectorAll("body *")) {
    const box = node.getBoundingClientRect();
    if (box.width && box.right > width + 0.5 && node.offsetParent !== null) {
      wide.push(node.tagName.toLowerCase() + (node.id ? "#" + node.id : "") + "." + node.className + " " + Math.round(box.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, client: width, wide: wide.slice(0, 8)};
}"""


def fits(page: Any, where: str) -> None:
    """The page is no wider than the window (else: which elements stick out)."""
    measured = page.evaluate(_OVERFLOW)
    assert measured["scroll"] <= measured["client"], f"{where}: {measured}"
