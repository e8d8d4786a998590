"""Error shape, request ids, ops endpoints, OpenAPI completeness."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_request_id_is_echoed_or_generated(client: TestClient, headers: dict) -> None:
    r = client.get(
        "/v1/items", params={"namespace": "demo"}, headers={**headers, "X-Request-ID": "abc-123"}
    )
    assert r.headers["x-request-id"] == "abc-123"
    r = client.get("/v1/items", params={"namespace": "bad ns"}, headers=headers)
    generated = r.headers["x-request-id"]
    assert len(generated) >= 16
    assert r.json()["request_id"] == generated
    # A hostile request id is replaced, not reflected.
    r = client.get("/health", headers={"X-Request-ID": "<script>"})
    assert r.headers["x-request-id"] != "<script>"


def test_unknown_route_and_method_use_the_error_shape(client: TestClient) -> None:
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert set(r.json()) == {"code", "message", "details", "request_id"}
    r = client.delete("/v1/items")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_malformed_json_is_400_and_wrong_content_type_415(
    client: TestClient, headers: dict
) -> None:
    r = client.post(
        "/v1/events:batch",
        content=b'{"namespace": ',
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    r = client.post(
        "/v1/events:batch",
        content=b'{"namespace": "x"}',
        headers={**headers, "content-type": "text/plain"},
    )
    assert r.status_code == 415
    r = client.post(
        "/v1/events:batch",
        content=b"[1, 2]",
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_health_reports_the_store(client: TestClient, store) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "store": store.dialect}


def test_health_is_503_when_the_store_is_gone(make_client, tmp_path) -> None:
    from recsys.config.settings import Settings
    from recsys.service import create_app

    db = tmp_path / "gone" / "x.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}"))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/health").status_code == 200
        app.state.recsys.store.close()
        (tmp_path / "gone" / "x.db").unlink()
        (tmp_path / "gone").rmdir()
        r = client.get("/health")
        assert r.status_code == 503 and r.json()["code"] == "store_unavailable"


def test_version_from_settings(make_client) -> None:
    client = make_client(git_commit="abc123", build_time="2026-11-26T00:00:00Z")
    assert client.get("/version").json() == {
        "version": "0.1.0",
        "git_commit": "abc123",
        "build_time": "2026-11-26T00:00:00Z",
        "model_version": "blend-v1",
    }


def test_metrics_count_requests_by_route_template(client: TestClient, headers: dict) -> None:
    for _ in range(3):
        client.get("/v1/items", params={"namespace": "demo"}, headers=headers)
    client.post(
        "/v1/events:batch",
        json={"namespace": "demo", "events": [{"user_id": "u", "item_id": "a", "type": 0}]},
        headers=headers,
    )
    client.get("/v1/unknown/route/123")
    text = client.get("/metrics").text
    assert 'recsys_http_requests_total{method="GET",route="/v1/items",status="200"} 3.0' in text
    assert (
        'recsys_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/items"}'
        in text
    )
    assert 'route="unmatched"' in text
    assert "/v1/unknown/route/123" not in text  # raw paths would explode cardinality
    assert 'recsys_ingested_rows_total{kind="events"} 1.0' in text


def test_openapi_documents_every_endpoint_with_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    expected = {
        ("post", "/v1/items:upsert"),
        ("post", "/v1/users:upsert"),
        ("post", "/v1/events:batch"),
        ("post", "/v1/items:delete"),
        ("post", "/v1/users:delete"),
        ("post", "/v1/events:delete"),
        ("get", "/v1/items"),
        ("get", "/v1/users"),
        ("get", "/v1/events"),
        ("get", "/health"),
        ("get", "/version"),
        ("get", "/metrics"),
        ("post", "/v1/recommendations"),
        ("post", "/v1/rerank"),
        ("get", "/v1/items/{item_id}/similar"),
        ("get", "/v1/admin/recommendation/config"),
        ("post", "/v1/admin/recommendation/config"),
        ("get", "/v1/admin/recommendation/config/history"),
        ("post", "/v1/admin/recommendation/config/rollback"),
        ("get", "/v1/admin/recommendation/presets"),
        ("get", "/v1/event-types"),
        ("post", "/v1/event-types:upsert"),
        ("get", "/v1/segments"),
        ("post", "/v1/segments:upsert"),
        ("post", "/v1/segments:delete"),
        ("post", "/v1/segments:dry-run"),
        ("get", "/v1/segment-profiles"),
        ("post", "/v1/segment-profiles:upsert"),
        ("post", "/v1/segment-profiles:delete"),
        ("get", "/v1/admin/rules"),
        ("post", "/v1/admin/rules"),
        ("get", "/v1/admin/rules/{rule_id}"),
        ("put", "/v1/admin/rules/{rule_id}"),
        ("delete", "/v1/admin/rules/{rule_id}"),
        ("post", "/v1/admin/rules/dry-run"),
        ("get", "/v1/admin/manual_overrides"),
        ("post", "/v1/admin/manual_overrides"),
        ("post", "/v1/admin/manual_overrides/{override_id}/cancel"),
        ("get", "/v1/audit/decisions"),
        ("get", "/v1/audit/decisions/{decision_id}"),
        ("post", "/v1/audit/search"),
    }
    found = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert expected <= found
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path.startswith("/v1/"):
                for status in ("400", "401", "403", "422", "429"):
                    assert status in op["responses"], (method, path, status)
                assert any(code.startswith("2") for code in op["responses"]), (method, path)
                assert op["responses"]["422"]["content"]["application/json"]["schema"][
                    "$ref"
                ].endswith("/ErrorBody")
                if method in ("post", "put") and not path.endswith("/cancel"):
                    assert "$ref" in op["requestBody"]["content"]["application/json"]["schema"]
    assert client.get("/docs").status_code == 200
