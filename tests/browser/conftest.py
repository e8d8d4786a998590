"""A real headless Chromium (Debian's `chromium` and `chromium-driver`, never a downloaded
browser or driver) against a real server. Where the browser is missing the tests skip, unless
RECSYS_REQUIRE_BROWSER=1 (CI installs it and sets that), as PostgreSQL's do.

Every page load is checked the same way: no console errors, and no request to anything but the
server on the loopback (Chromium resolves every other host to nothing, so a page that needed
the internet would show it). Screenshots land in var/screenshots/ (git-ignored)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not _available():
        if os.environ.get("RECSYS_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "chromium and chromedriver are required (apt-get install chromium chromium-driver)"
            )
        pytest.skip("chromium / chromedriver not installed")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        # The network is off for everything but the loopback.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://0.0.0.0:1",
        "--proxy-bypass-list=127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: object) -> list[str]:
    """Every URL the browser asked for since the last call (the performance log drains)."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: object) -> list[str]:
    return [
        entry["message"]
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if entry["level"] == "SEVERE"
    ]


def only_loopback(urls: list[str], base_url: str) -> list[str]:
    """The URLs that went anywhere but the server under test (data: and blob: stay in the
    page)."""
    origin = urlsplit(base_url).netloc
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in {"data", "blob", "about"} and urlsplit(url).netloc != origin
    ]
