"""The API's documentation works offline and says what a client must send: /docs and /redoc
load their assets from this server only, `/` leads to them, X-Org-ID is a required header on
every /v1 operation, the auth schemes appear when auth is on, and every request body has an
example the API itself accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from recsys.service.examples import REQUEST_EXAMPLES

EXTERNAL = re.compile(r"""(?:src|href)=["']?(?:https?:)?//""")


def local_assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']?(/[^"' >]+)""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/"])
def test_the_pages_load_only_from_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(response.text), response.text
    assert "https://" not in response.text and "http://" not in response.text
    for asset in local_assets(response.text):
        assert client.get(asset).status_code == 200, asset
    if page != "/":
        # The page's script is served here, in full (not a stub).
        scripts = [a for a in local_assets(response.text) if a.endswith(".js")]
        assert scripts and all(len(client.get(s).content) > 500_000 for s in scripts)


def test_the_landing_page_leads_to_the_docs(client: TestClient) -> None:
    links = re.findall(r'href="([^"]+)"', client.get("/").text)
    assert {"/docs", "/redoc", "/openapi.json", "/health"} <= set(links)


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, looking into included routers (FastAPI keeps them nested)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_tenant_header_is_required_and_auth_headers_are_schemes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    v1 = [(p, m, o) for p, m, o in operations(document) if p.startswith("/v1/")]
    assert v1
    for path, method, operation in v1:
        headers = {q["name"]: q for q in operation["parameters"] if q["in"] == "header"}
        assert headers["X-Org-ID"]["required"] is True, (method, path)
        assert not {"X-API-Key", "authorization"} & set(headers), (method, path)
        assert "security" not in operation
    assert "securitySchemes" not in document.get("components", {})


def test_with_auth_on_every_v1_operation_declares_the_key_schemes(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(auth_enabled=True, api_keys=())
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    for path, _, operation in operations(document):
        expected = [{"ApiKey": []}, {"Bearer": []}] if path.startswith("/v1/") else None
        assert operation.get("security") == expected, path


def test_every_request_body_has_an_example_that_validates(client: TestClient) -> None:
    with_body = {
        route.name: route
        for route in api_routes(client.app.routes)  # type: ignore[attr-defined]
        if route.body_field is not None
    }
    assert set(REQUEST_EXAMPLES) == set(with_body)
    document = client.get("/openapi.json").json()
    for _, _, operation in operations(document):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert body["example"] == REQUEST_EXAMPLES[operation["operationId"]]
    for name, route in with_body.items():
        model = route.body_field.field_info.annotation  # type: ignore[union-attr]
        model.model_validate(REQUEST_EXAMPLES[name])  # raises on a stale example


def test_the_api_accepts_every_example(client: TestClient, headers: dict[str, str]) -> None:
    """Sent as they are to a live app (ids that do not exist are 404, never 422 or 5xx)."""
    for route in api_routes(client.app.routes):  # type: ignore[attr-defined]
        if route.name not in REQUEST_EXAMPLES:
            continue
        path = re.sub(r"\{[^}]+\}", "missing-id", route.path)
        (method,) = route.methods
        response = client.request(method, path, json=REQUEST_EXAMPLES[route.name], headers=headers)
        assert response.status_code < 500, (route.name, response.text)
        assert response.status_code != 422, (route.name, response.text)
