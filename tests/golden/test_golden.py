"""Golden outputs: the full answer of every request in `cases.py`, compared byte for byte.

Each file in `outputs/` is the JSON the API returned (items, scores, reasons, explain, trace,
warnings; only the random `decision_id` is left out, and rule ids are replaced by the rules'
names), written with sorted keys. Floats are compared as the API renders them: the pipeline
rounds every score and explain value to 6 decimals, so a CPU's last bit cannot flip a file.

A failure means the ranking changed. If the change is intended, regenerate and review the diff:

    RECSYS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/golden
    git diff tests/golden/outputs

and say in the commit message what changed and why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.clock import from_micros
from recsys.config.settings import Settings
from recsys.offline.synthetic import generate
from recsys.service import create_app
from recsys.store import Store
from tests.conftest import FakeClock
from tests.golden.cases import (
    RULES,
    SEGMENT_PROFILES,
    SEGMENTS,
    SHOP,
    SYNTH,
    SYNTH_SIZE,
    Case,
    cases,
)
from tests.ranking.shop import NOW
from tests.service.conftest import load_shop

OUTPUTS = Path(__file__).parent / "outputs"
HEADERS = {"X-Org-ID": "00000000-0000-4000-8000-00000000901d"}
UPDATE = os.environ.get("RECSYS_UPDATE_GOLDEN") == "1"


def _post(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body, headers=HEADERS)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def _load_synthetic(client: TestClient) -> None:
    data = generate(now=from_micros(NOW), **SYNTH_SIZE)
    _post(client, "/v1/items:upsert", {"namespace": SYNTH, "items": data.items})
    _post(client, "/v1/users:upsert", {"namespace": SYNTH, "users": data.users})
    for start in range(0, len(data.events), 5000):
        events = data.event_dicts(start, start + 5000)
        _post(client, "/v1/events:batch", {"namespace": SYNTH, "events": events})


def _load_control_plane(client: TestClient) -> dict[str, str]:
    """Segments, profiles and rules in the shop namespace; returns rule id -> rule name."""
    _post(client, "/v1/segment-profiles:upsert", {"namespace": SHOP, "profiles": SEGMENT_PROFILES})
    for segment in SEGMENTS:
        _post(client, "/v1/segments:upsert", {"namespace": SHOP, "segment": segment})
    names = {}
    for rule in RULES:
        created = _post(client, "/v1/admin/rules", {"namespace": SHOP, "enabled": True, **rule})
        names[created["rule_id"]] = rule["name"]
    return names


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    store = Store.from_url(f"sqlite:///{tmp_path_factory.mktemp('golden') / 'g.db'}", migrate=True)
    clock = FakeClock(from_micros(NOW))
    app = create_app(Settings(database_url="unused://"), store=store, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        load_shop(client, HEADERS, clock, namespace=SHOP)
        _load_synthetic(client)
        rule_names = _load_control_plane(client)
        yield client, rule_names
    store.close()


def render(case: Case, client: TestClient, rule_names: dict[str, str]) -> str:
    if case.method == "GET":
        response = client.get(case.path, params=case.body, headers=HEADERS)
    else:
        response = client.post(case.path, json=case.body, headers=HEADERS)
    assert response.status_code == 200, response.text
    answer = response.json()
    answer.pop("decision_id", None)
    text = json.dumps({"request": case.body, "response": answer}, indent=1, sort_keys=True)
    for rule_id, name in rule_names.items():
        text = text.replace(rule_id, f"rule:{name}")
    return text + "\n"


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_golden(case: Case, world: tuple[TestClient, dict[str, str]]) -> None:
    client, rule_names = world
    text = render(case, client, rule_names)
    path = OUTPUTS / f"{case.name}.json"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with RECSYS_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{case.name} differs from its golden file"


def test_every_golden_file_has_a_case() -> None:
    names = {case.name for case in cases()}
    assert len(names) == len(cases())
    assert {path.stem for path in OUTPUTS.glob("*.json")} == names
