"""Small HTTP helpers shared by the bandit API tests."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

NS = "bandits"


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert set(body) == {"code", "message", "details", "request_id"}
    return body


def policy(policy_id: str, **fields: Any) -> dict[str, Any]:
    return {"policy_id": policy_id, **fields}


def upsert(
    client: TestClient, headers: dict, policies: list[dict[str, Any]], namespace: str = NS
) -> httpx.Response:
    return client.post(
        "/v1/bandit/policies:upsert",
        json={"namespace": namespace, "policies": policies},
        headers=headers,
    )


def list_policies(client: TestClient, headers: dict, namespace: str = NS) -> list[dict]:
    body = ok(client.get("/v1/bandit/policies", params={"namespace": namespace}, headers=headers))
    policies: list[dict] = body["policies"]
    return policies


def decide(client: TestClient, headers: dict, namespace: str = NS, **body: Any) -> httpx.Response:
    return client.post(
        "/v1/bandit/decide",
        json={"namespace": namespace, "surface": "home", **body},
        headers=headers,
    )


def reward(
    client: TestClient, headers: dict, decision_id: str, value: Any, namespace: str = NS
) -> httpx.Response:
    return client.post(
        "/v1/bandit/reward",
        json={"namespace": namespace, "decision_id": decision_id, "reward": value},
        headers=headers,
    )


def stats(client: TestClient, headers: dict, namespace: str = NS, **params: str) -> dict:
    body: dict = ok(
        client.get("/v1/bandit/stats", params={"namespace": namespace, **params}, headers=headers)
    )
    return body


def arms_by_policy(statistics: dict, group: str = "treatment") -> dict[str, dict]:
    """Arm rows of one group summed over buckets, by policy id."""
    out: dict[str, dict] = {}
    for bucket in statistics["buckets"]:
        for arm in bucket["arms"]:
            if arm["group"] != group:
                continue
            row = out.setdefault(
                arm["policy_id"], {"decisions": 0, "rewards": 0, "reward_sum": 0.0}
            )
            row["decisions"] += arm["decisions"]
            row["rewards"] += arm["rewards"]
            row["reward_sum"] += arm["reward_sum"]
    return out
