"""The console over HTTP (a real browser drives it in tests/browser): signing in with and
without auth, CSRF on every form, the overview and the config pages of the session's org only,
a diff between versions, rollback after a confirmation, and bad input shown on the page with
nothing changed."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from recsys.config.settings import parse_api_keys
from tests.conftest import FakeClock
from tests.service.conftest import SHOP_NS, load_shop


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def sign_in(client: TestClient, org: str, api_key: str | None = None) -> int:
    page = client.get("/console/login")
    form = {"org_id": org, "csrf": csrf_of(page.text)}
    if api_key is not None:
        form["api_key"] = api_key
    response = client.post("/console/login", data=form, follow_redirects=False)
    return response.status_code


def set_config(client: TestClient, headers: dict, config: dict) -> None:
    body = {"namespace": SHOP_NS, "config": config, "author": "test"}
    assert client.post("/v1/admin/recommendation/config", json=body, headers=headers).is_success


def versions(client: TestClient, headers: dict) -> list[dict]:
    answer = client.get(
        "/v1/admin/recommendation/config/history", params={"namespace": SHOP_NS}, headers=headers
    ).json()
    return list(answer["versions"])


def test_without_a_session_every_page_leads_to_sign_in(client: TestClient) -> None:
    for path in ("/console", f"/console/ns/{SHOP_NS}/config"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
    response = client.post(
        f"/console/ns/{SHOP_NS}/config/rollback", data={"version": "1"}, follow_redirects=False
    )
    assert response.status_code == 303


def test_the_overview_lists_the_orgs_namespaces_only(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    assert sign_in(client, org) == 303
    page = client.get("/console")
    assert page.status_code == 200 and "<class" not in page.text and "None" not in page.text
    row = re.search(
        rf"<td><a href=\"/console/ns/{SHOP_NS}/config\">{SHOP_NS}</a></td>(.*?)</tr>",
        page.text,
        re.S,
    )
    assert row is not None
    numbers = re.findall(r'<td class="num">([^<]+)</td>', row.group(1))
    items = len(
        client.get(
            "/v1/items", params={"namespace": SHOP_NS, "limit": 1000}, headers=headers
        ).json()["items"]
    )
    assert numbers[0] == str(items)
    other = str(uuid.uuid4())
    assert sign_in(client, other) == 303
    assert SHOP_NS not in client.get("/console").text


def test_bad_sign_in_input_is_shown_and_opens_nothing(client: TestClient, org: str) -> None:
    page = client.get("/console/login")
    bad_org = client.post("/console/login", data={"org_id": "nope", "csrf": csrf_of(page.text)})
    assert bad_org.status_code == 400 and "the org id must be a UUID" in bad_org.text
    no_csrf = client.post("/console/login", data={"org_id": org, "csrf": "forged"})
    assert no_csrf.status_code == 403 and "expired" in no_csrf.text
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_with_auth_the_key_must_be_allowed_for_the_org(
    make_client: Callable[..., TestClient], org: str
) -> None:
    other = str(uuid.uuid4())
    client = make_client(auth_enabled=True, api_keys=parse_api_keys(f"console-key:{org}"))
    assert sign_in(client, org, "wrong-key") == 401
    assert sign_in(client, other, "console-key") == 403
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert sign_in(client, org, "console-key") == 303
    assert client.get("/console").status_code == 200
    # A server whose key ring no longer holds the key ends the session.
    cookies = dict(client.cookies)
    rotated = make_client(auth_enabled=True, api_keys=parse_api_keys(f"new-key:{org}"))
    rotated.cookies.update(cookies)
    assert rotated.get("/console", follow_redirects=False).status_code == 303


def test_bad_input_on_any_page_is_an_error_page(client: TestClient, org: str) -> None:
    """Pages without a form of their own answer bad input with the error page (never a 500)."""
    sign_in(client, org)
    for page in ("config", "rules", "bandit"):
        answer = client.get(f"/console/ns/bad!name/{page}")
        assert answer.status_code == 404, page
        assert "is not a namespace name" in answer.text and "<html" in answer.text, page
    forged = client.post("/console/logout", data={"csrf": "forged"})
    assert forged.status_code == 403 and "did not come from this console" in forged.text
    assert client.get("/console", follow_redirects=False).status_code == 200  # still signed in


def test_config_history_diff_and_rollback_after_confirmation(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    set_config(client, headers, {"mmr_lambda": 0.4})
    set_config(client, headers, {"mmr_lambda": 0.9, "profile_boost": 0.2})
    sign_in(client, org)
    page = client.get(f"/console/ns/{SHOP_NS}/config")
    assert page.status_code == 200 and "v2" in page.text
    diff = re.search(r'<table class="diff" id="diff">(.*?)</table>', page.text, re.S)
    assert diff is not None
    changed = re.findall(r"<tr><th>([a-z_]+)</th><td>", diff.group(1))
    assert changed == ["mmr_lambda", "profile_boost"]
    csrf = csrf_of(page.text)
    path = f"/console/ns/{SHOP_NS}/config/rollback"
    confirm = client.post(path, data={"csrf": csrf, "version": "1"})
    assert confirm.status_code == 200 and "Roll shop back to config v1?" in confirm.text
    assert len(versions(client, headers)) == 2  # asking is not doing
    done = client.post(path, data={"csrf": csrf, "version": "1", "confirm": "yes"})
    assert done.status_code == 200 and "v3 now holds v1" in done.text
    history = versions(client, headers)
    assert history[0]["version"] == 3 and history[0]["config"] == {"mmr_lambda": 0.4}
    assert history[0]["metadata"]["rollback_of"] == 1


def test_bad_rollbacks_change_nothing(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    set_config(client, headers, {"mmr_lambda": 0.4})
    sign_in(client, org)
    csrf = csrf_of(client.get(f"/console/ns/{SHOP_NS}/config").text)
    path = f"/console/ns/{SHOP_NS}/config/rollback"
    forged = client.post(path, data={"csrf": "forged", "version": "1", "confirm": "yes"})
    assert forged.status_code == 403 and "did not come from this console" in forged.text
    missing = client.post(path, data={"csrf": csrf, "version": "7", "confirm": "yes"})
    assert missing.status_code == 404 and "no config version 7" in missing.text
    junk = client.post(path, data={"csrf": csrf, "version": "seven", "confirm": "yes"})
    assert junk.status_code == 400 and "must be a number" in junk.text
    bad_diff = client.get(f"/console/ns/{SHOP_NS}/config", params={"a": "1", "b": "9"})
    assert bad_diff.status_code == 404 and "no such version" in bad_diff.text
    assert len(versions(client, headers)) == 1
    # Another org's session sees none of it, and cannot roll it back.
    sign_in(client, str(uuid.uuid4()))
    page = client.get(f"/console/ns/{SHOP_NS}/config")
    assert "No version stored yet" in page.text and "mmr_lambda</th><td><code>0.4" not in page.text
    other = client.post(path, data={"csrf": csrf_of(page.text), "version": "1", "confirm": "yes"})
    assert other.status_code == 404
    assert len(versions(client, headers)) == 1


def ranked_ids(html: str, table: str) -> list[str]:
    body = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    assert body is not None, html
    return re.findall(r"<tr><td[^>]*>[^<]*</td><td><code>([^<]+)</code>", body.group(1))


def test_the_preview_ranks_like_the_api_and_records_nothing(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    sign_in(client, org)
    asked = {"namespace": SHOP_NS, "user_id": "u01", "surface": "home", "k": 5}
    api = client.post("/v1/recommendations", json=asked, headers=headers).json()
    before = client.post("/v1/audit/search", json={"namespace": SHOP_NS}, headers=headers).json()
    page = client.get(
        f"/console/ns/{SHOP_NS}/preview", params={"user_id": "u01", "surface": "home", "k": "5"}
    )
    assert page.status_code == 200
    assert ranked_ids(page.text, "ranked") == [i["item_id"] for i in api["items"]]
    after = client.post("/v1/audit/search", json={"namespace": SHOP_NS}, headers=headers).json()
    assert len(after["decisions"]) == len(before["decisions"])
    similar = client.get(f"/console/ns/{SHOP_NS}/preview", params={"similar": "i05"})
    expected = client.get(
        "/v1/items/i05/similar", params={"namespace": SHOP_NS, "k": 20}, headers=headers
    ).json()
    found = re.findall(r"<tr><td><code>([^<]+)</code>", similar.text)
    assert found == [n["item_id"] for n in expected["items"]]
    bad = client.get(f"/console/ns/{SHOP_NS}/preview", params={"k": "9999"})
    assert bad.status_code == 400 and "k:" in bad.text
    unknown = client.get(f"/console/ns/{SHOP_NS}/preview", params={"similar": "nope"})
    assert unknown.status_code == 404 and "no item" in unknown.text


def test_the_bandit_page_shows_the_orgs_canaries_only(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    body = {"namespace": SHOP_NS, "surface": "home", "overrides": {"mmr_lambda": 0.5}}
    canary = client.post("/v1/ship/canaries", json=body, headers=headers).json()
    for user in ("u01", "u02", "u03"):
        asked = {"namespace": SHOP_NS, "user_id": user, "surface": "home", "k": 5}
        client.post("/v1/recommendations", json=asked, headers=headers)
    sign_in(client, org)
    page = client.get(f"/console/ns/{SHOP_NS}/bandit")
    assert page.status_code == 200 and canary["canary_id"] in page.text
    decisions = re.findall(
        r"<tr><td>(candidate|control)</td><td class=\"num\">(\d+)</td>", page.text
    )
    assert sum(int(n) for _, n in decisions) == 3
    sign_in(client, str(uuid.uuid4()))
    assert canary["canary_id"] not in client.get(f"/console/ns/{SHOP_NS}/bandit").text


def test_the_audit_page_finds_a_decision_and_searches_by_user(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    asked = {"namespace": SHOP_NS, "user_id": "u07", "k": 4, "include_reasons": True}
    answer = client.post("/v1/recommendations", json=asked, headers=headers).json()
    sign_in(client, org)
    page = client.get(f"/console/ns/{SHOP_NS}/audit", params={"decision_id": answer["decision_id"]})
    assert page.status_code == 200
    shown = re.findall(r"<tr><td class=\"num\">\d+</td><td><code>([^<]+)</code>", page.text)
    assert shown == [i["item_id"] for i in answer["items"]]
    by_user = client.get(f"/console/ns/{SHOP_NS}/audit", params={"user_id": "u07"})
    assert answer["decision_id"] in by_user.text
    assert (
        answer["decision_id"]
        not in client.get(f"/console/ns/{SHOP_NS}/audit", params={"user_id": "u08"}).text
    )
    elsewhere = client.get("/console/ns/other/audit", params={"decision_id": answer["decision_id"]})
    assert elsewhere.status_code == 404
    bad = client.get(f"/console/ns/{SHOP_NS}/audit", params={"user_id": "", "since": "yesterday"})
    assert bad.status_code == 400 and "since: not a time" in bad.text
    sign_in(client, str(uuid.uuid4()))
    foreign = client.get(
        f"/console/ns/{SHOP_NS}/audit", params={"decision_id": answer["decision_id"]}
    )
    assert foreign.status_code == 404


def rules_of(client: TestClient, headers: dict) -> list[dict]:
    answer = client.get("/v1/admin/rules", params={"namespace": SHOP_NS}, headers=headers).json()
    return list(answer["rules"])


def test_rules_dry_run_shows_the_change_and_create_stores_it(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    sign_in(client, org)
    page = client.get(f"/console/ns/{SHOP_NS}/rules")
    assert page.status_code == 200 and "No rule." in page.text
    asked = {"namespace": SHOP_NS, "user_id": "u01", "k": 10}
    top = client.post("/v1/recommendations", json=asked, headers=headers).json()["items"][0]
    form = {
        "csrf": csrf_of(page.text),
        "name": "hide the top item",
        "action": "BLOCK",
        "target_type": "ITEM",
        "item_ids": top["item_id"],
        "surface": "*",
        "priority": "5",
        "user_id": "u01",
    }
    dry = client.post(f"/console/ns/{SHOP_NS}/rules", data={**form, "intent": "dry-run"})
    assert dry.status_code == 200 and "Nothing was stored" in dry.text
    assert f"removed: {top['item_id']}" in dry.text
    assert rules_of(client, headers) == []
    created = client.post(f"/console/ns/{SHOP_NS}/rules", data={**form, "intent": "create"})
    assert (
        created.status_code == 200 and "Rule &#39;hide the top item&#39; created." in created.text
    )
    (rule,) = rules_of(client, headers)
    assert (rule["action"], rule["item_ids"], rule["priority"]) == ("BLOCK", [top["item_id"]], 5)
    # Rankings use a new rule once the signals' policy refreshes (within seconds, as for the API).
    deadline = time.monotonic() + 30
    while top["item_id"] in [
        i["item_id"]
        for i in client.post("/v1/recommendations", json=asked, headers=headers).json()["items"]
    ]:
        assert time.monotonic() < deadline, "the rule never took effect"
        time.sleep(0.05)


def test_bad_rule_forms_change_nothing_and_overrides_cancel(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    sign_in(client, org)
    csrf = csrf_of(client.get(f"/console/ns/{SHOP_NS}/rules").text)
    path = f"/console/ns/{SHOP_NS}/rules"
    boost = {
        "csrf": csrf,
        "name": "b",
        "action": "BOOST",
        "target_type": "TAG",
        "target_key": "t1",
        "intent": "create",
    }
    missing = client.post(path, data=boost)
    assert missing.status_code == 400 and "boost" in missing.text.lower()
    junk = client.post(path, data={**boost, "boost_value": "lots"})
    assert junk.status_code == 400 and "boost_value" in junk.text
    forged = client.post(path, data={**boost, "boost_value": "2", "csrf": "forged"})
    assert forged.status_code == 403
    assert rules_of(client, headers) == []
    body = {"namespace": SHOP_NS, "item_id": "i05", "action": "suppress"}
    override = client.post("/v1/admin/manual_overrides", json=body, headers=headers).json()
    page = client.get(f"/console/ns/{SHOP_NS}/rules")
    assert "<td>active</td>" in page.text
    cancel = f"/console/ns/{SHOP_NS}/overrides/{override['override_id']}/cancel"
    assert client.post(cancel, data={"csrf": "forged"}).status_code == 403
    done = client.post(cancel, data={"csrf": csrf})
    assert done.status_code == 200 and "<td>cancelled</td>" in done.text
    elsewhere = client.post(
        f"/console/ns/other/overrides/{override['override_id']}/cancel", data={"csrf": csrf}
    )
    assert elsewhere.status_code == 404


def test_segments_and_profiles_with_a_dry_run(
    client: TestClient, headers: dict, clock: FakeClock, org: str
) -> None:
    load_shop(client, headers, clock)
    profile = {"namespace": SHOP_NS, "profiles": [{"profile_id": "fans", "mmr_lambda": 0.9}]}
    assert client.post("/v1/segment-profiles:upsert", json=profile, headers=headers).is_success
    rule = {"rule": {"eq": ["user.traits.segment", "fans_1"]}, "enabled": True}
    segment = {"segment_id": "ones", "name": "fans of 1", "profile_id": "fans", "rules": [rule]}
    body = {"namespace": SHOP_NS, "segment": segment}
    assert client.post("/v1/segments:upsert", json=body, headers=headers).is_success
    sign_in(client, org)
    page = client.get(f"/console/ns/{SHOP_NS}/segments", params={"user_id": "u01"})
    assert page.status_code == 200
    assert "<code>ones</code>" in page.text and "<code>fans</code>" in page.text
    dry = re.search(r'<p id="segment-dry-run">(.*?)</p>', page.text, re.S)
    assert dry is not None and "chosen: <strong>ones</strong>" in dry.group(1)
    api = client.post(
        "/v1/segments:dry-run", json={"namespace": SHOP_NS, "user_id": "u02"}, headers=headers
    ).json()
    other = client.get(f"/console/ns/{SHOP_NS}/segments", params={"user_id": "u02"})
    assert f"chosen: <strong>{api['segment_id'] or 'none'}</strong>" in other.text
    sign_in(client, str(uuid.uuid4()))
    assert "<code>ones</code>" not in client.get(f"/console/ns/{SHOP_NS}/segments").text


def test_tuning_runs_of_the_org_only_with_their_reports(
    make_client: Callable[..., TestClient], org: str, tmp_path: Path
) -> None:
    other = str(uuid.uuid4())
    lift = {"absolute": 0.05, "ci95_low": 0.01, "ci95_high": 0.09, "relative": 0.3}
    for name, owner in (
        ("shop_20261201T000000Z", org),
        ("shop_20261202T000000Z", other),
        ("shop_20261130T000000Z", None),
    ):
        folder = tmp_path / name
        folder.mkdir()
        summary = {
            "namespace": "shop",
            "org_id": owner,
            "runs": [{"run": 1}, {"run": 2}],
            "pareto": [2],
            "chosen": {
                "run": 2,
                "test": {"lift": {"ndcg@10": lift}, "guardrails": {"passed": True}},
            },
        }
        (folder / "summary.json").write_text(json.dumps(summary))
        (folder / "report.html").write_text(f"<h1>report of {name}</h1>")
    client = make_client(tuning_runs_dir=str(tmp_path))
    sign_in(client, org)
    page = client.get("/console/runs")
    assert page.status_code == 200
    assert "shop_20261201T000000Z" in page.text
    assert "shop_20261202T000000Z" not in page.text and "shop_20261130T000000Z" not in page.text
    assert "+0.0500 (+0.0100, +0.0900)" in page.text
    report = client.get("/console/runs/shop_20261201T000000Z/report.html")
    assert report.status_code == 200 and "report of shop_20261201T000000Z" in report.text
    assert "default-src 'none'" in report.headers["content-security-policy"]
    for path in (
        "/console/runs/shop_20261202T000000Z/report.html",  # another org's
        "/console/runs/shop_20261130T000000Z/report.html",  # nobody's
        "/console/runs/shop_20261201T000000Z/summary.json.bak",
        "/console/runs/..%2F..%2Fetc/report.html",
    ):
        assert client.get(path).status_code == 404, path
