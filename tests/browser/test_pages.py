"""Every console page, and the API's own documentation, in a real browser against a real server
with data: they load with no console error and no request off the loopback; /docs and /redoc
render their operations with the network off; the main console action (a rollback, confirmed)
works. Screenshots of every page go to var/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from recsys.client import RecsysClient
from recsys.testing.server import running_server
from recsys.toolkit.data import seed_namespace
from tests.browser.conftest import SCREENSHOTS, console_errors, only_loopback, requested_urls

pytestmark = pytest.mark.slow

NS = "browse"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("browser")
    org = str(uuid.uuid4())
    with (
        running_server(f"sqlite:///{root / 'db.sqlite'}", workdir=root) as srv,
        RecsysClient(srv.base_url, org) as api,
    ):
        seed_namespace(api, NS, users=60, events=800, items=50, seed=3, now=datetime.now(UTC))
        api.set_config(NS, {"mmr_lambda": 0.4}, author="setup", notes="first")
        api.set_config(NS, {"mmr_lambda": 0.8, "profile_boost": 0.9}, author="setup")
        yield srv.base_url, org


def visit(browser: Any, base_url: str, path: str, shot: str) -> None:
    """Load a page; fail on a console error or a request that left the loopback."""
    requested_urls(browser)  # drain what earlier pages asked for
    browser.get(base_url + path)
    wait_ready(browser)
    browser.save_screenshot(str(SCREENSHOTS / f"{shot}.png"))
    assert only_loopback(requested_urls(browser), base_url) == []
    assert console_errors(browser) == []


def wait_ready(browser: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def wait_for(browser: Any, css: str, count: int = 1) -> list[Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, 60).until(
        lambda d: (found := d.find_elements(By.CSS_SELECTOR, css)) and len(found) >= count and found
    )


def test_swagger_ui_lists_the_operations_offline(browser: Any, server: tuple[str, str]) -> None:
    base_url, _ = server
    visit(browser, base_url, "/docs", "docs_swagger")
    operations = wait_for(browser, ".opblock-summary-path", count=40)
    assert any(o.text.startswith("/v1/recommendations") for o in operations)
    browser.save_screenshot(str(SCREENSHOTS / "docs_swagger.png"))
    assert only_loopback(requested_urls(browser), base_url) == []


def test_redoc_lists_the_operations_offline(browser: Any, server: tuple[str, str]) -> None:
    base_url, _ = server
    visit(browser, base_url, "/redoc", "docs_redoc")
    entries = wait_for(browser, "li[data-item-id]", count=40)
    assert entries
    browser.save_screenshot(str(SCREENSHOTS / "docs_redoc.png"))
    assert only_loopback(requested_urls(browser), base_url) == []


def sign_in(browser: Any, base_url: str, org: str) -> None:
    from selenium.webdriver.common.by import By

    visit(browser, base_url, "/console", "console_login")  # redirected to the sign-in form
    browser.find_element(By.NAME, "org_id").send_keys(org)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, "table")


def test_the_console_pages_and_a_confirmed_rollback(
    browser: Any, server: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base_url, org = server
    visit(browser, base_url, "/", "landing")
    sign_in(browser, base_url, org)
    visit(browser, base_url, "/console", "console_overview")
    assert NS in browser.find_element(By.TAG_NAME, "table").text
    visit(browser, base_url, f"/console/ns/{NS}/config", "console_config")
    diff = browser.find_element(By.ID, "diff").text
    assert "mmr_lambda" in diff and "profile_boost" in diff
    browser.find_element(By.XPATH, "//button[normalize-space()='Roll back to v1…']").click()
    wait_for(browser, "button.danger")  # the confirmation page
    browser.save_screenshot(str(SCREENSHOTS / "console_rollback_confirm.png"))
    assert "Roll browse back to config v1?" in browser.find_element(By.TAG_NAME, "h1").text
    browser.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait_for(browser, ".flash")
    browser.save_screenshot(str(SCREENSHOTS / "console_rollback_done.png"))
    assert "v3 now holds v1" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert console_errors(browser) == []
    with RecsysClient(base_url, org) as api:
        current = api.config(NS)
    assert current["version"] == 3 and current["explicit"] == {"mmr_lambda": 0.4}
