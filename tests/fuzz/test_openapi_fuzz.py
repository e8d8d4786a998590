"""API fuzzing: schemathesis turns the app's own OpenAPI document into requests and checks every
answer against that document.

Every operation in the document is exercised (new endpoints are fuzzed without touching this
file), with a bounded, seeded number of examples so CI is reproducible: `RECSYS_FUZZ_EXAMPLES`
per operation on SQLite (default 25), a fifth of that on PostgreSQL. Each operation gets a fresh
app, a fresh org and the tiny shop in namespace `demo` (the schema's example namespace), so the
generated requests reach real data. Checks: no 5xx, every status code and content type is one
the document declares for the operation, every body matches its declared schema.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recsys.clock import system_clock
from recsys.config.settings import Settings
from recsys.service import create_app
from recsys.service.state import Clock
from recsys.store import Store
from tests.conftest import FakeClock
from tests.service.conftest import load_shop

FUZZ_EXAMPLES = int(os.environ.get("RECSYS_FUZZ_EXAMPLES", "25"))
# PostgreSQL is the slower store; a smaller run still catches what only its driver refuses.
POSTGRES_FUZZ_EXAMPLES = max(1, FUZZ_EXAMPLES // 5)
FUZZ_SEED = 20261126
FUZZ_NAMESPACE = "demo"  # the example the schema gives for `namespace`, so requests find data
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _build_app(store: Store, clock: Clock = system_clock) -> FastAPI:
    return create_app(Settings(database_url="unused://"), store=store, clock=clock)


def _openapi_document() -> dict[str, Any]:
    """The document `/openapi.json` serves, built in-process. The store is never opened: the
    document depends only on the routes, and the app is not started."""
    with tempfile.TemporaryDirectory() as directory:
        store = Store.from_url(f"sqlite:///{directory}/schema-only.db", migrate=False)
        try:
            document: dict[str, Any] = _build_app(store).openapi()
        finally:
            store.close()
    return document


DOCUMENT = _openapi_document()
OPERATIONS = frozenset(
    f"{method.upper()} {path}"
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method in HTTP_METHODS
)


def _schema(max_examples: int) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "seed": FUZZ_SEED,
            "generation": {
                "mode": "all",  # valid requests and requests the server must refuse with a 4xx
                "max-examples": max_examples,
                "deterministic": True,
                # No example database: nothing is written into the work tree, and every run
                # generates the same requests from the seed.
                "database": "none",
            },
        }
    )
    return schemathesis.openapi.from_dict(DOCUMENT, config=config)


sqlite_schema = _schema(FUZZ_EXAMPLES)
postgres_schema = _schema(POSTGRES_FUZZ_EXAMPLES)

# Which operations each backend's run sent at least one request to ("METHOD /path").
EXERCISED: dict[str, set[str]] = {"sqlite": set(), "postgresql": set()}


@pytest.fixture(scope="module")
def fuzz_sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'recsys.db'}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def fuzz_postgres_store(postgres_url: str) -> Iterator[Store]:
    store = Store.from_url(postgres_url)
    yield store
    store.close()


def _client(store: Store, org: str) -> Iterator[TestClient]:
    clock = FakeClock(datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC))
    # raise_server_exceptions=False: a crash must come back as the 500 the checks look for.
    with TestClient(_build_app(store, clock), raise_server_exceptions=False) as client:
        load_shop(client, {"X-Org-ID": org}, clock, namespace=FUZZ_NAMESPACE)
        yield client


@pytest.fixture
def fuzz_org() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def sqlite_client(fuzz_sqlite_store: Store, fuzz_org: str) -> Iterator[TestClient]:
    yield from _client(fuzz_sqlite_store, fuzz_org)


@pytest.fixture
def postgres_client(fuzz_postgres_store: Store, fuzz_org: str) -> Iterator[TestClient]:
    yield from _client(fuzz_postgres_store, fuzz_org)


def _targets_org_header(case: schemathesis.Case) -> bool:
    """Whether schemathesis built this case to probe X-Org-ID itself (left out or garbled)."""
    data = case.meta.phase.data if case.meta is not None else None
    return getattr(data, "parameter", None) == "X-Org-ID"


def _send(client: TestClient, case: schemathesis.Case, org: str) -> httpx2.Response:
    """Send the case through the app's own TestClient (whose lifespan is already running).

    Most cases act for the org that holds the shop; the ones schemathesis aimed at X-Org-ID
    keep what it generated, so the 400 path of every operation is fuzzed too.
    """
    tenant = {} if _targets_org_header(case) else {"X-Org-ID": org}
    request = case.as_transport_kwargs(base_url=str(client.base_url), headers=tenant)
    assert not request.get("files"), "the API takes JSON only"
    body = request.get("data")
    if "json" in request:
        body = json.dumps(request["json"], allow_nan=False).encode()
    return client.request(
        request["method"],
        request["url"],
        params=request.get("params"),
        headers=request.get("headers"),
        content=body,
    )


def _fuzz(backend: str, case: schemathesis.Case, client: TestClient, org: str) -> None:
    EXERCISED[backend].add(case.operation.label)
    response = _send(client, case, org)
    # The headers as sent, so a failure's curl reproduction shows the X-Org-ID that was used.
    case.validate_response(response, checks=CHECKS, headers=dict(response.request.headers))


# One fresh app per operation, but state persists across one operation's examples on purpose
# (a list after an upsert sees the upserted rows), hence the health check suppression.
FUZZ_SETTINGS = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@sqlite_schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_sqlite(case: schemathesis.Case, sqlite_client: TestClient, fuzz_org: str) -> None:
    _fuzz("sqlite", case, sqlite_client, fuzz_org)


@postgres_schema.parametrize()
@FUZZ_SETTINGS
@pytest.mark.postgres
def test_fuzz_postgresql(
    case: schemathesis.Case, postgres_client: TestClient, fuzz_org: str
) -> None:
    _fuzz("postgresql", case, postgres_client, fuzz_org)


@pytest.mark.parametrize(
    ("backend", "test_name"),
    [
        ("sqlite", "test_fuzz_sqlite"),
        pytest.param("postgresql", "test_fuzz_postgresql", marks=pytest.mark.postgres),
    ],
)
def test_every_operation_was_fuzzed(
    request: pytest.FixtureRequest, backend: str, test_name: str
) -> None:
    """Runs after the fuzz tests (same module, later in the file): every operation of the
    document was sent at least one request. Skips when the fuzz run was filtered (-k) or
    skipped (no PostgreSQL), since then only part of it ran."""
    selected = [i for i in request.session.items if getattr(i, "originalname", "") == test_name]
    if len(selected) < len(OPERATIONS) or not EXERCISED[backend]:
        pytest.skip(f"{test_name} did not run for every operation in this session")
    assert len(EXERCISED[backend]) == len(OPERATIONS)
    assert EXERCISED[backend] == OPERATIONS
