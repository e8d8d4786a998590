"""POST /v1/bandit/policies:upsert and GET /v1/bandit/policies, on both stores."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.bandit.helpers import NS, error, list_policies, ok, policy, upsert
from tests.conftest import FakeClock


def test_upsert_then_list(bandit_client: TestClient, headers: dict, clock: FakeClock) -> None:
    body = ok(
        upsert(
            bandit_client,
            headers,
            [
                policy("pop", name="Popularity", config={"blend_alpha": 1, "blend_beta": 0}),
                policy("base", control=True),
                policy("off", active=False, config={"exclude_event_types": "3,2"}),
            ],
        )
    )
    assert body == {"namespace": NS, "upserted": 3}
    listed = list_policies(bandit_client, headers)
    assert [p["policy_id"] for p in listed] == ["base", "off", "pop"]
    by_id = {p["policy_id"]: p for p in listed}
    assert by_id["pop"]["name"] == "Popularity"
    assert by_id["base"]["name"] == "base"  # defaults to the id
    assert by_id["base"]["control"] and by_id["base"]["active"]
    assert not by_id["off"]["active"]
    # Stored normalised, as the knob catalogue parses them.
    assert by_id["off"]["config"] == {"exclude_event_types": [2, 3]}
    assert by_id["pop"]["config"] == {"blend_alpha": 1, "blend_beta": 0}
    created = by_id["pop"]["created_at"]

    clock.advance(hours=1)
    ok(upsert(bandit_client, headers, [policy("pop", config={"blend_alpha": 0.5})]))
    replaced = {p["policy_id"]: p for p in list_policies(bandit_client, headers)}["pop"]
    assert replaced["config"] == {"blend_alpha": 0.5}  # replaced whole
    assert replaced["name"] == "pop"
    assert replaced["created_at"] == created and replaced["updated_at"] > created


def test_bad_knobs_are_one_422_naming_each_and_store_nothing(
    bandit_client: TestClient, headers: dict
) -> None:
    ok(upsert(bandit_client, headers, [policy("keep", config={"mmr_lambda": 0.5})]))
    r = upsert(
        bandit_client,
        headers,
        [
            policy("keep", config={"mmr_lambda": 0.9}),  # valid, but the batch is refused
            policy("a", config={"blend_alpha": -1, "no_such_knob": 1}),
            policy("b", config={"mmr_lambda": "high", "rules_enable": "perhaps"}),
        ],
    )
    body = error(r, 422, "invalid_config")
    errors = body["details"]["errors"]
    assert {(e["index"], e["field"]) for e in errors} == {
        (1, "config.blend_alpha"),
        (1, "config.no_such_knob"),
        (2, "config.mmr_lambda"),
        (2, "config.rules_enable"),
    }
    assert "policies[1].config.blend_alpha" in body["message"]
    listed = list_policies(bandit_client, headers)
    assert [(p["policy_id"], p["config"]) for p in listed] == [("keep", {"mmr_lambda": 0.5})]


def test_batch_structure_errors(bandit_client: TestClient, headers: dict) -> None:
    r = upsert(bandit_client, headers, [policy("a"), policy("b"), policy("a")])
    body = error(r, 422, "validation_error")
    assert body["details"]["errors"][0]["loc"] == "policies[2].policy_id"
    r = upsert(bandit_client, headers, [policy("a", control=True), policy("b", control=True)])
    body = error(r, 422, "validation_error")
    assert {e["loc"] for e in body["details"]["errors"]} == {
        "policies[0].control",
        "policies[1].control",
    }
    for bad in (
        [],
        [policy("_reserved")],
        [policy("has space")],
        [policy("x" * 65)],
        [policy("a", extra_field=1)],
        [policy("a", config=[1, 2])],
        [policy("a", active="sometimes")],
        [policy("a", name="tab\there")],
    ):
        error(upsert(bandit_client, headers, bad), 422, "validation_error")
    error(
        upsert(bandit_client, headers, [policy("a")], namespace="bad namespace"),
        422,
        "validation_error",
    )
    assert list_policies(bandit_client, headers) == []


@pytest.mark.parametrize(
    "config",
    [
        '{"mmr_presets": {"ho\\u0000me": 0.5}}',
        '{"mmr_presets": {"\\ud800": 0.5}}',
        '{"\\udfff": 1}',
        '{"brand_cap": 1e400}',
        '{"brand_cap": 1' + "0" * 400 + "}",
    ],
)
def test_unstorable_configs_are_refused(
    bandit_client: TestClient, headers: dict, config: str
) -> None:
    r = bandit_client.post(
        "/v1/bandit/policies:upsert",
        content=f'{{"namespace": "{NS}", "policies": [{{"policy_id": "a", "config": {config}}}]}}',
        headers={**headers, "Content-Type": "application/json"},
    )
    body = error(r, 422, "validation_error")
    assert body["details"]["errors"][0]["loc"] == "policies[0].config"
    assert list_policies(bandit_client, headers) == []


def test_one_control_policy_per_namespace(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("old", control=True), policy("new")]))
    r = upsert(bandit_client, headers, [policy("new", control=True, config={"mmr_lambda": 1})])
    body = error(r, 409, "control_policy_conflict")
    assert body["details"]["control_policy_ids"] == ["new", "old"]
    assert {p["policy_id"]: p["control"] for p in list_policies(bandit_client, headers)} == {
        "new": False,
        "old": True,
    }
    # Moving the flag is one batch.
    ok(upsert(bandit_client, headers, [policy("old"), policy("new", control=True)]))
    assert {p["policy_id"]: p["control"] for p in list_policies(bandit_client, headers)} == {
        "new": True,
        "old": False,
    }


def test_policies_per_namespace_are_capped(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy(f"p{n:03d}") for n in range(100)]))
    ok(upsert(bandit_client, headers, [policy("p000", active=False)]))  # a replace is fine
    body = error(upsert(bandit_client, headers, [policy("one-more")]), 422, "too_many_policies")
    assert body["details"] == {"limit": 100, "would_be": 101}
    assert len(list_policies(bandit_client, headers)) == 100


def test_namespaces_are_separate(bandit_client: TestClient, headers: dict) -> None:
    ok(upsert(bandit_client, headers, [policy("a")], namespace="one"))
    ok(upsert(bandit_client, headers, [policy("b")], namespace="two"))
    assert [p["policy_id"] for p in list_policies(bandit_client, headers, "one")] == ["a"]
    assert [p["policy_id"] for p in list_policies(bandit_client, headers, "two")] == ["b"]
    r = bandit_client.get("/v1/bandit/policies", params={"namespace": "no spaces"}, headers=headers)
    error(r, 422, "validation_error")
