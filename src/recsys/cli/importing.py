"""`recsys import`: bulk-load items, users and events from CSV or JSONL files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.cli.common import DEFAULT_BASE_URL, DEFAULT_ORG_ID, BaseUrl, Insecure, OrgId, client

# Unlike the playbook's commands there is no default namespace: a bulk write into "demo" by
# accident is worse than a prompt for the option.
RequiredNamespace = Annotated[
    str, typer.Option("--namespace", envvar="NS", help="Namespace to import into (env NS).")
]
_FORMATS = "CSV or JSONL (.csv, .jsonl, .ndjson; optionally .gz)"


def _bar() -> Any:
    """A progress bar per stage on stderr (stdout carries only the JSON summary)."""
    from rich.console import Console
    from rich.progress import Progress

    return Progress(console=Console(stderr=True), transient=True)


def import_data(
    namespace: RequiredNamespace,
    items: Annotated[
        Path | None, typer.Option("--items", dir_okay=False, help=f"Items: {_FORMATS}.")
    ] = None,
    users: Annotated[
        Path | None, typer.Option("--users", dir_okay=False, help=f"Users: {_FORMATS}.")
    ] = None,
    events: Annotated[
        Path | None, typer.Option("--events", dir_okay=False, help=f"Events: {_FORMATS}.")
    ] = None,
    base_url: BaseUrl = DEFAULT_BASE_URL,
    org_id: OrgId = DEFAULT_ORG_ID,
    insecure: Insecure = False,
    chunk_size: Annotated[
        int | None,
        typer.Option(
            "--chunk-size", min=1, help="Rows per request (default and maximum: 1000/1000/5000)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the files only; send nothing.")
    ] = False,
) -> None:
    """Import items, users and events from CSV or JSONL files (.csv, .jsonl, .ndjson, each
    optionally .gz). Every file is checked first, with the API's own rules: if any row is bad,
    the problems are listed (exit 2) and nothing is sent. Then items, users and events are sent
    in API-sized batches. Events without event_id get one derived from their content, so
    re-importing a file adds nothing twice. Prints a JSON summary. See docs/importing.md."""
    import time

    import httpx

    from recsys.imports.importer import (
        ImportRefused,
        ImportValidationError,
        check_namespace,
        import_files,
        validate_files,
    )

    if items is None and users is None and events is None:
        typer.echo("error: give at least one of --items, --users, --events", err=True)
        raise typer.Exit(2)
    started = time.monotonic()
    with _bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        try:
            if dry_run:
                check_namespace(namespace)
                rows = validate_files(items=items, users=users, events=events, progress=progress)
                summary: dict[str, Any] = {
                    "namespace": namespace,
                    "dry_run": True,
                    "rows": rows,
                    "seconds": round(time.monotonic() - started, 3),
                }
            else:
                with client(base_url, org_id, insecure) as api:
                    summary = import_files(
                        api,
                        namespace,
                        items=items,
                        users=users,
                        events=events,
                        chunk_size=chunk_size,
                        progress=progress,
                    )
        except ImportValidationError as exc:
            for error in exc.errors:
                typer.echo(str(error), err=True)
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        except ImportRefused as exc:
            typer.echo(f"the server refused the import: {exc.error}", err=True)
            typer.echo(json.dumps(exc.error.body, indent=2), err=True)
            typer.echo(f"stored before the refusal: {json.dumps(exc.summary)}", err=True)
            raise typer.Exit(1) from exc
        except httpx.TransportError as exc:
            typer.echo(f"cannot reach {base_url}: {exc}", err=True)
            raise typer.Exit(1) from exc
        except ValueError as exc:  # a bad namespace
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
    typer.echo(json.dumps(summary, indent=2))


__all__ = ["import_data"]
