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
from recsys.config.knobs import defaults
from recsys.offline.guardrails import Thresholds
from recsys.testing.server import running_server
from recsys.toolkit.data import fetch_namespace, seed_namespace
from recsys.toolkit.tuning import TuningPlan, run_sweep
from tests.browser.conftest import SCREENSHOTS, console_errors, only_loopback, requested_urls

pytestmark = pytest.mark.slow

NS = "browse"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("browser")
    org = str(uuid.uuid4())
    runs = root / "tuning_runs"
    env = {"RECSYS_TUNING_RUNS_DIR": str(runs)}
    with (
        running_server(f"sqlite:///{root / 'db.sqlite'}", workdir=root, env=env) as srv,
        RecsysClient(srv.base_url, org) as api,
    ):
        seed_namespace(api, NS, users=60, events=800, items=50, seed=3, now=datetime.now(UTC))
        # A real (small) tuning run of this org, for the runs page and its report.
        plan = TuningPlan(
            namespace=NS,
            configurations=[{"mmr_lambda": 0.5}, {"blend_delta": 0.6}],
            limit_users=30,
            seed=3,
            org_id=org,
        )
        lenient = Thresholds(quality={"min_catalog_coverage": 0.0}, source="test")
        run_sweep(
            plan,
            fetch_namespace(api, NS),
            base_knobs=defaults(),
            thresholds=lenient,
            now=datetime.now(UTC),
            root=runs,
        )
        api.set_config(NS, {"mmr_lambda": 0.4}, author="setup", notes="first")
        api.set_config(NS, {"mmr_lambda": 0.8, "profile_boost": 0.9}, author="setup")
        # A canary with some traffic, so that the bandit page has something to show.
        canary = {
            "namespace": NS,
            "surface": "home",
            "overrides": {"mmr_lambda": 0.6},
            "traffic_share": 0.5,
            "author": "browser test",
        }
        api.post("/v1/ship/canaries", canary)
        for n in range(12):
            api.recommend(NS, user_id=f"user-{n:05d}", surface="home", k=5)
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
    visit(browser, base_url, f"/console/ns/{NS}/preview?user_id=user-00001&k=8", "console_preview")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ranked tbody tr")) == 8
    first = browser.find_element(By.CSS_SELECTOR, "#ranked tbody tr td code").text
    browser.find_element(By.LINK_TEXT, "similar").click()
    wait_for(browser, "#similar")
    assert console_errors(browser) == []
    visit(browser, base_url, f"/console/ns/{NS}/rules", "console_rules")
    browser.find_element(By.NAME, "name").send_keys("hide the first item")
    browser.find_element(By.NAME, "item_ids").send_keys(first)
    browser.find_element(By.NAME, "user_id").send_keys("user-00001")
    browser.find_element(By.XPATH, "//button[normalize-space()='Dry run']").click()
    wait_for(browser, "#dry-run")
    browser.save_screenshot(str(SCREENSHOTS / "console_rule_dry_run.png"))
    assert f"removed: {first}" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.XPATH, "//button[normalize-space()='Create']").click()
    wait_for(browser, "#rules")
    assert "hide the first item" in browser.find_element(By.ID, "rules").text
    assert console_errors(browser) == []
    visit(browser, base_url, f"/console/ns/{NS}/segments?user_id=user-00001", "console_segments")
    assert "Nothing was stored" in browser.find_element(By.ID, "segment-dry-run").text
    visit(browser, base_url, f"/console/ns/{NS}/bandit", "console_bandit")
    visit(browser, base_url, "/console/runs", "console_runs")
    browser.find_element(By.LINK_TEXT, "report").click()
    wait_for(browser, "#chosen")
    browser.save_screenshot(str(SCREENSHOTS / "tuning_report.png"))
    assert only_loopback(requested_urls(browser), base_url) == []
    assert console_errors(browser) == []
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 2 and all(
        browser.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images
    )
    visit(browser, base_url, f"/console/ns/{NS}/audit?user_id=user-00001", "console_audit")
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
    with RecsysClient(base_url, org) as api:
        rules = api.get("/v1/admin/rules", namespace=NS)["rules"]
    assert [(r["name"], r["item_ids"]) for r in rules] == [("hide the first item", [first])]


def test_with_auth_on_the_console_asks_for_a_key(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from selenium.webdriver.common.by import By

    root = tmp_path_factory.mktemp("browser-auth")
    org = str(uuid.uuid4())
    env = {"API_AUTH_ENABLED": "true", "API_AUTH_KEYS": f"console-secret:{org}"}
    with running_server(f"sqlite:///{root / 'db.sqlite'}", workdir=root, env=env) as srv:
        browser.delete_all_cookies()
        visit(browser, srv.base_url, "/console/login", "console_login_auth")
        browser.find_element(By.NAME, "org_id").send_keys(org)
        browser.find_element(By.NAME, "api_key").send_keys("not-the-key")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(browser, ".flash.error")
        assert "not recognised" in browser.find_element(By.CSS_SELECTOR, ".flash.error").text
        console_errors(browser)  # the 401 page itself is logged as a failed load: expected
        browser.find_element(By.NAME, "org_id").clear()
        browser.find_element(By.NAME, "org_id").send_keys(org)
        browser.find_element(By.NAME, "api_key").send_keys("console-secret")
        browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait_for(browser, "h1")
        assert browser.find_element(By.TAG_NAME, "h1").text == "Namespaces"
        assert console_errors(browser) == []
        visit(browser, srv.base_url, "/docs", "docs_swagger_auth")
        wait_for(browser, ".btn.authorize")  # the API-key schemes give Swagger its button
