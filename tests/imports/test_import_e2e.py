"""`recsys import` against a real server: files land as API data, a re-import adds nothing, a bad
file changes nothing, refusals and bad options have their exit codes, and a large file streams."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from recsys.cli.main import app
from recsys.client import ApiCallError, RecsysClient
from recsys.imports.importer import (
    MAX_ERRORS,
    ImportRefused,
    ImportValidationError,
    import_files,
)
from recsys.imports.offline import load_namespace_data
from recsys.testing.server import running_server
from recsys.toolkit.data import fetch_namespace

from .test_formats import write

ITEMS = """item_id,title,category,brand,tags,price,available,category_path,created_at,colour
sku-1,Trail shoe,shoes,acme,running;outdoor,89,,Footwear > Shoes,2026-11-01T00:00:00Z,red
sku-2,Rain jacket,jackets,northwind,outdoor,120,no,Clothing > Jackets,2026-11-02T00:00:00Z,
sku-3,Socks,socks,acme,,9.5,yes,,2026-11-03T00:00:00Z,blue
"""
USERS = """user_id,segment,age
u-1,power_users,34
u-2,new_users,
"""
EVENTS = """user_id,item_id,type,value,ts
u-1,sku-1,view,,2026-11-20T10:00:00Z
u-1,sku-1,view,,2026-11-20T10:00:00Z
u-1,sku-1,purchase,2,2026-11-20T10:05:00Z
u-2,sku-2,click,,2026-11-21T08:30:00+01:00
u-2,sku-3,add_to_cart,,2026-11-21T09:00:00Z
"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("imports")
    with running_server(f"sqlite:///{root / 'db.sqlite'}", workdir=root) as server:
        yield server.base_url


@pytest.fixture
def api(base_url: str) -> Iterator[RecsysClient]:
    """A client for a fresh org, so tests never see each other's data."""
    with RecsysClient(base_url, str(uuid.uuid4())) as client:
        yield client


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "items": write(tmp_path / "items.csv", ITEMS),
        "users": write(tmp_path / "users.csv", USERS),
        "events": write(tmp_path / "events.csv", EVENTS),
    }


def stored(api: RecsysClient, kind: str, namespace: str = "shop") -> list[dict[str, Any]]:
    return list(api.pages(kind, namespace))


def test_import_stores_items_users_and_events(api: RecsysClient, files: dict[str, Path]) -> None:
    summary = import_files(api, "shop", **files)
    assert summary["rows"] == {"items": 3, "users": 2, "events": 5}
    assert (summary["items_upserted"], summary["users_upserted"]) == (3, 2)
    assert (summary["events_accepted"], summary["events_inserted"]) == (5, 5)
    assert summary["events_duplicates"] == 0 and summary["seconds"] >= 0

    items = {item["item_id"]: item for item in stored(api, "items")}
    assert sorted(items) == ["sku-1", "sku-2", "sku-3"]
    shoe = items["sku-1"]
    assert shoe["tags"] == ["running", "outdoor"] and shoe["category_path"] == ["Footwear", "Shoes"]
    assert (shoe["price"], shoe["available"], shoe["props"]) == (89.0, True, {"colour": "red"})
    assert shoe["created_at"].startswith("2026-11-01T00:00:00")
    assert items["sku-2"]["available"] is False and items["sku-2"]["props"] == {}

    users = {user["user_id"]: user["traits"] for user in stored(api, "users")}
    assert users == {"u-1": {"segment": "power_users", "age": 34}, "u-2": {"segment": "new_users"}}

    events = stored(api, "events")
    assert [(e["user_id"], e["item_id"], e["type"]) for e in events] == [
        ("u-1", "sku-1", 0),
        ("u-1", "sku-1", 0),
        ("u-1", "sku-1", 3),
        ("u-2", "sku-2", 1),
        ("u-2", "sku-3", 2),
    ]
    assert events[2]["value"] == 2.0
    assert events[3]["ts"].startswith("2026-11-21T07:30:00")
    assert all(e["event_id"].startswith("imp-") for e in events)


def test_reimport_adds_no_events(api: RecsysClient, files: dict[str, Path]) -> None:
    import_files(api, "shop", **files)
    again = import_files(api, "shop", **files)
    assert (again["items_upserted"], again["users_upserted"]) == (3, 2)
    assert again["events_accepted"] == 5
    assert (again["events_inserted"], again["events_duplicates"]) == (0, 5)
    assert len(stored(api, "events")) == 5


def test_offline_loader_matches_what_the_server_holds(
    api: RecsysClient, files: dict[str, Path]
) -> None:
    import_files(api, "shop", **files)
    server = fetch_namespace(api, "shop")
    local = load_namespace_data(**files)
    keys = ["item_id", "price", "tags", "category_path", "props", "available", "created_at_us"]
    assert [{k: i[k] for k in keys} for i in local.items] == [
        {k: i[k] for k in keys} for i in server.items
    ]
    assert list(local.users) == list(server.users)
    for name in ("type", "value", "ts_us"):
        assert np.array_equal(getattr(local.events, name), getattr(server.events, name)), name
    assert local.events.users.ids == server.events.users.ids
    assert local.events.items.ids == server.events.items.ids


def test_a_bad_file_changes_nothing(api: RecsysClient, files: dict[str, Path]) -> None:
    bad = write(files["events"].with_name("bad.csv"), EVENTS + "u-3,sku-1,like,,\n")
    with pytest.raises(ImportValidationError) as caught:
        import_files(api, "shop", items=files["items"], users=files["users"], events=bad)
    (error,) = caught.value.errors
    assert (error.path, error.line, error.field) == (str(bad), 7, "type")
    for kind in ("items", "users", "events"):
        assert stored(api, kind) == [], kind


def test_errors_are_listed_up_to_a_limit(api: RecsysClient, tmp_path: Path) -> None:
    lines = ["user_id,item_id,type", *(f"u,i,bad{n}" for n in range(50))]
    with pytest.raises(ImportValidationError) as caught:
        import_files(api, "shop", events=write(tmp_path / "e.csv", "\n".join(lines)))
    assert len(caught.value.errors) == MAX_ERRORS and caught.value.truncated
    assert [e.line for e in caught.value.errors[:3]] == [2, 3, 4]


def test_errors_in_several_files_are_all_reported(api: RecsysClient, tmp_path: Path) -> None:
    items = write(tmp_path / "items.csv", "item_id,price\na,-1\n")
    users = write(tmp_path / "users.jsonl", '{"user": "x"}\n')
    events = write(tmp_path / "events.csv", "user_id,item\nu,i\n")
    with pytest.raises(ImportValidationError) as caught:
        import_files(api, "shop", items=items, users=users, events=events)
    assert [(Path(e.path).name, e.line) for e in caught.value.errors] == [
        ("items.csv", 2),
        ("users.jsonl", 1),
        ("events.csv", 1),  # the header: the rest of that file is not read
    ]
    assert "1 more problem(s)" in caught.value.errors[1].reason  # user_id missing, user unknown


def test_chunk_size_bounds_each_request(api: RecsysClient, files: dict[str, Path]) -> None:
    sizes: list[tuple[str, int]] = []
    push = api.push

    def spy(kind: str, namespace: str, rows: Any) -> dict[str, int]:
        sizes.append((kind, len(rows)))
        return push(kind, namespace, rows)

    api.push = spy  # type: ignore[method-assign]
    summary = import_files(api, "shop", **files, chunk_size=2)
    assert [n for kind, n in sizes if kind == "items"] == [2, 1]
    assert [n for kind, n in sizes if kind == "users"] == [2]
    assert [n for kind, n in sizes if kind == "events"] == [2, 2, 1]
    assert [kind for kind, _ in sizes] == ["items"] * 2 + ["users"] + ["events"] * 3
    assert summary["events_inserted"] == 5


def test_rate_limited_batches_are_retried(tmp_path: Path) -> None:
    class Limited:
        calls = 0

        def push(self, kind: str, namespace: str, rows: Any) -> dict[str, int]:
            self.calls += 1
            if self.calls == 1:
                body = {"code": "rate_limited", "details": {"retry_after_seconds": 0.01}}
                raise ApiCallError("POST", "/v1/events:batch", 429, body)
            return {"accepted": len(rows), "inserted": len(rows), "duplicates": 0}

    client = Limited()
    events = write(tmp_path / "e.csv", EVENTS)
    summary = import_files(client, "shop", events=events)  # type: ignore[arg-type]
    assert client.calls == 2 and summary["events_inserted"] == 5


def test_a_refusal_reports_what_was_stored(api: RecsysClient, tmp_path: Path) -> None:
    first = write(tmp_path / "a.jsonl", '{"item_id": "a", "embedding": [1, 0, 0]}\n')
    import_files(api, "shop", items=first)
    other = write(tmp_path / "b.jsonl", '{"item_id": "b", "embedding": [1, 0]}\n')
    with pytest.raises(ImportRefused) as caught:
        import_files(api, "shop", items=other)
    assert caught.value.error.status == 422
    assert caught.value.summary["items_upserted"] == 0


def test_a_bad_namespace_is_refused_before_reading(api: RecsysClient, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid namespace"):
        import_files(api, "no spaces", events=tmp_path / "absent.csv")


# --- the command ---------------------------------------------------------------------------------


def cli(base_url: str, org: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["import", "--base-url", base_url, "--org-id", org, *args])


def test_cli_imports_and_prints_a_summary(base_url: str, files: dict[str, Path]) -> None:
    org = str(uuid.uuid4())
    args = ["--namespace", "shop", "--items", str(files["items"]), "--users", str(files["users"])]
    result = cli(base_url, org, *args, "--events", str(files["events"]))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["events_inserted"] == 5 and summary["items_upserted"] == 3
    again = json.loads(cli(base_url, org, *args, "--events", str(files["events"])).stdout)
    assert (again["events_inserted"], again["events_duplicates"]) == (0, 5)


def test_cli_bad_file_exits_2_and_sends_nothing(base_url: str, tmp_path: Path) -> None:
    org = str(uuid.uuid4())
    items = write(tmp_path / "items.csv", "item_id,price\na,1\nb,-2\nc,x\n")
    result = cli(base_url, org, "--namespace", "shop", "--items", str(items))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{items}:3: price:" in result.stderr and f"{items}:4: price:" in result.stderr
    assert "nothing was sent" in result.stderr
    with RecsysClient(base_url, org) as api:
        assert stored(api, "items") == []


def test_cli_dry_run_sends_nothing(base_url: str, files: dict[str, Path]) -> None:
    org = str(uuid.uuid4())
    result = cli(
        base_url, org, "--namespace", "shop", "--events", str(files["events"]), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "namespace": "shop",
        "dry_run": True,
        "rows": {"events": 5},
        "seconds": json.loads(result.stdout)["seconds"],
    }
    with RecsysClient(base_url, org) as api:
        assert stored(api, "events") == []


def test_cli_needs_a_file_and_a_namespace(base_url: str, files: dict[str, Path]) -> None:
    no_file = cli(base_url, str(uuid.uuid4()), "--namespace", "shop")
    assert no_file.exit_code == 2 and "at least one of --items" in no_file.stderr
    no_namespace = CliRunner(env={"NS": None}).invoke(app, ["import", "--events", "x.csv"])
    assert no_namespace.exit_code == 2 and "--namespace" in no_namespace.output


def test_cli_server_refusal_exits_1(base_url: str, tmp_path: Path) -> None:
    events = write(tmp_path / "e.csv", EVENTS)
    result = cli(base_url, "not-a-uuid", "--namespace", "shop", "--events", str(events))
    assert result.exit_code == 1
    assert '"code": "invalid_org_id"' in result.stderr


def test_cli_unreachable_server_exits_1(files: dict[str, Path]) -> None:
    result = cli(
        "http://127.0.0.1:9",
        str(uuid.uuid4()),
        "--namespace",
        "s",
        "--events",
        str(files["events"]),
    )
    assert result.exit_code == 1 and "cannot reach" in result.stderr


def test_installed_command(base_url: str, files: dict[str, Path], tmp_path: Path) -> None:
    """`recsys import` as a user runs it: options from the environment, JSON on stdout."""
    command = Path(sys.executable).with_name("recsys")
    argv = [str(command)] if command.exists() else [sys.executable, "-m", "recsys.cli.main"]
    org = str(uuid.uuid4())
    env = {**os.environ, "BASE_URL": base_url, "ORG_ID": org, "NS": "cli"}
    out = subprocess.run(
        [*argv, "import", "--events", str(files["events"]), "--chunk-size", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["events_inserted"] == 5


# --- a large file --------------------------------------------------------------------------------


def test_sixty_thousand_events_stream_in(api: RecsysClient, tmp_path: Path) -> None:
    path = tmp_path / "events.csv.gz"
    rows = (
        f"u{n % 700},i{n % 900},{n % 5},{1 + n % 3},2026-11-{1 + n % 28:02d}T10:{n % 60:02d}:00Z"
        for n in range(60_000)
    )
    write(path, "user_id,item_id,type,value,ts\n" + "\n".join(rows) + "\n")
    started = time.monotonic()
    summary = import_files(api, "big", events=path)
    assert summary["rows"] == {"events": 60_000}
    assert (summary["events_accepted"], summary["events_inserted"]) == (60_000, 60_000)
    assert summary["events_duplicates"] == 0
    last_page = api.get("/v1/events", namespace="big", limit=1000)
    assert len(last_page["events"]) == 1000 and last_page["next_page_token"]
    assert time.monotonic() - started < 20


def test_progress_reports_each_stage(api: RecsysClient, files: dict[str, Path]) -> None:
    seen: list[tuple[str, int, int | None]] = []
    import_files(api, "shop", **files, chunk_size=2, progress=lambda *a: seen.append(a))
    assert ("check events", 5, None) in seen and ("check items", 3, None) in seen
    assert [s for s in seen if s[0] == "events"] == [
        ("events", 2, 5),
        ("events", 4, 5),
        ("events", 5, 5),
    ]
    stages = [stage for stage, _, _ in seen]
    assert stages.index("check events") < stages.index("items")  # everything checked first


def test_mixed_embedding_sizes_in_a_file_are_caught_first(
    api: RecsysClient, tmp_path: Path
) -> None:
    items = write(
        tmp_path / "items.jsonl",
        '{"item_id": "a", "embedding": [1, 0]}\n{"item_id": "b"}\n'
        '{"item_id": "c", "embedding": [1, 0, 0]}\n',
    )
    with pytest.raises(ImportValidationError) as caught:
        import_files(api, "shop", items=items)
    ((line, field),) = [(e.line, e.field) for e in caught.value.errors]
    assert (line, field) == (3, "embedding")
    assert stored(api, "items") == []
