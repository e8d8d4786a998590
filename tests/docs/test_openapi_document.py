"""docs/openapi.json is the app's OpenAPI document: clients generated from the committed file
(the Python SDK's models are checked against it) describe the server as it is."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.cli.openapi import openapi_text

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_committed_document_is_the_apps() -> None:
    assert openapi_text() == COMMITTED.read_text(), (
        "docs/openapi.json has drifted from the app; run: .venv/bin/recsys openapi > "
        "docs/openapi.json"
    )


def test_the_command_prints_it() -> None:
    result = CliRunner().invoke(app, ["openapi"])
    assert result.exit_code == 0
    document = json.loads(result.output)
    assert "/v1/recommendations" in document["paths"]
    assert document["info"]["title"] == "RecSys"
