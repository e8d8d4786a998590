"""The real server process: restart durability on both stores, the CLI."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from recsys.testing.server import running_server


def test_data_survives_a_restart(database_url: str, tmp_path: Path) -> None:
    headers = {"X-Org-ID": str(uuid.uuid4())}
    events = [
        {"event_id": f"e{i}", "user_id": "u", "item_id": f"i{i % 3}", "type": "click"}
        for i in range(50)
    ]
    with running_server(database_url, workdir=tmp_path) as server:
        r = httpx.post(
            f"{server.base_url}/v1/events:batch",
            json={"namespace": "demo", "events": events},
            headers=headers,
        )
        assert r.json()["inserted"] == 50
    with running_server(database_url, workdir=tmp_path) as server:
        r = httpx.get(
            f"{server.base_url}/v1/events",
            params={"namespace": "demo", "limit": 1000},
            headers=headers,
        )
        assert len(r.json()["events"]) == 50
        r = httpx.post(
            f"{server.base_url}/v1/events:batch",
            json={"namespace": "demo", "events": events},
            headers=headers,
        )
        assert r.json()["inserted"] == 0


def test_serve_help_lists_its_options() -> None:
    from typer.testing import CliRunner

    from recsys.cli.main import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers"):
        assert option in result.output


@pytest.mark.parametrize("command", [["--help"], ["migrate", "--help"], ["version"]])
def test_cli_commands_answer(command: list[str]) -> None:
    from typer.testing import CliRunner

    from recsys.cli.main import app

    assert CliRunner().invoke(app, command).exit_code == 0
