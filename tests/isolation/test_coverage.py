"""Every /v1 operation the app publishes has an isolation case, and every case names an
operation that exists. An endpoint added without cases (the bandit endpoints, say) fails here
until tests/isolation/cases.py has rows for it."""

from __future__ import annotations

from pathlib import Path

from recsys.config.settings import Settings
from recsys.service import create_app
from recsys.store import Store
from tests.isolation.cases import CASES

# /v1 operations that hold no tenant data, so there is nothing of one tenant to isolate from
# another. Each entry says why; adding one needs the same care as a case.
NO_TENANT_DATA: dict[tuple[str, str], str] = {
    ("GET", "/v1/admin/recommendation/presets"): (
        "static knob bundles from code, the same for every org (test_ops.py checks that no "
        "tenant's config shows in them)"
    ),
}
# Outside /v1 (and so not enumerated): /health and /version say nothing about tenants;
# /metrics is shared by all tenants and checked label by label in test_ops.py; /docs and
# /openapi.json describe the API.

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def v1_operations(tmp_path: Path) -> set[tuple[str, str]]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'openapi.db'}", migrate=True)
    try:
        schema = create_app(Settings(database_url="unused://"), store=store).openapi()
    finally:
        store.close()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/v1/")
        for method in operations
        if method in HTTP_METHODS
    }


def test_every_v1_operation_has_an_isolation_case(tmp_path: Path) -> None:
    operations = v1_operations(tmp_path)
    covered = {case.operation for case in CASES}
    missing = sorted(operations - covered - NO_TENANT_DATA.keys())
    assert not missing, (
        "no isolation case for these operations; add rows to tests/isolation/cases.py "
        f"(or, if one really holds no tenant data, to NO_TENANT_DATA with the reason): {missing}"
    )
    stale = sorted((covered | NO_TENANT_DATA.keys()) - operations)
    assert not stale, f"cases or exemptions for operations the app no longer has: {stale}"
    assert not covered & NO_TENANT_DATA.keys(), "an operation is both exempt and covered"


def test_cases_are_unique_and_say_what_they_prove() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert [case.id for case in CASES if not case.checks] == [], "a check without a docstring"
