"""`recsys` command line. Heavy imports happen inside commands, so `--help` stays instant."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from recsys.config.knobs import Knob

app = typer.Typer(
    name="recsys",
    help="RecSys: recommendation service and tuning toolkit.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: typer's rich layout labels every flag `<bool>` as if it took a value.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from recsys import __version__

        typer.echo(f"recsys {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """RecSys: recommendation service and tuning toolkit."""


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[
        str | None,
        typer.Option(help="Log level (default: RECSYS_LOG_LEVEL, else info)."),
    ] = None,
) -> None:
    """Serve the HTTP API. The store comes from RECSYS_DATABASE_URL
    (default sqlite:///./var/recsys.db); migrations are applied before workers start. Logs go
    to stderr as RECSYS_LOG_FORMAT says (text or json); RECSYS_ACCESS_LOG=true adds a line per
    request."""
    import uvicorn

    from recsys.config.settings import LOG_LEVELS, Settings

    settings = Settings.from_env()
    level = (log_level or settings.log_level).lower()
    if level not in LOG_LEVELS:
        raise typer.BadParameter(f"one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
    # Before anything imports prometheus_client (it reads this once): every worker writes its
    # metric values there and /metrics sums them.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_fresh_metrics_dir(settings.metrics_dir))
    from recsys.service.logs import configure_logging, logging_config
    from recsys.store import Store

    configure_logging(level, settings.log_format)  # this process: the migration's lines

    # Migrate once here, so that several workers never race to create the schema.
    store = Store.from_url(settings.database_url, migrate=True)
    store.close()
    os.environ["RECSYS_AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "recsys.service.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # Applied by uvicorn in every worker; the access log is ours (route templates).
        log_config=logging_config(level, settings.log_format),
        log_level=level,
        access_log=False,
    )


def _fresh_metrics_dir(configured: str | None) -> Path:
    """An empty folder for this server's metric files (values left by an earlier run would be
    added to this one's): RECSYS_METRICS_DIR, else a temporary folder removed at exit."""
    import atexit
    import shutil
    import tempfile

    if configured is None:
        folder = Path(tempfile.mkdtemp(prefix="recsys-metrics-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder
    folder = Path(configured)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder


@app.command()
def build(
    org: Annotated[str | None, typer.Option(help="Only this organisation's namespaces.")] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Only this namespace (needs --org).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Build even when the newest artifact is current.")
    ] = False,
) -> None:
    """Build snapshot artifacts into RECSYS_SNAPSHOT_DIR from RECSYS_DATABASE_URL and exit: one
    new version per namespace with events newer than its newest artifact. For a cron job or a
    separate builder machine; serving processes map what it publishes."""
    import time

    from recsys.config.settings import Settings
    from recsys.service.artifacts import ArtifactShelf
    from recsys.service.snapshots import SnapshotRegistry
    from recsys.store import Store
    from recsys.store.loading import list_namespaces

    if namespace is not None and org is None:
        raise typer.BadParameter("--namespace needs --org", param_hint="--namespace")
    settings = Settings.from_env()
    if settings.snapshot_dir is None:
        typer.echo("RECSYS_SNAPSHOT_DIR is off: there is nowhere to build artifacts", err=True)
        raise typer.Exit(2)
    store = Store.from_url(settings.database_url, migrate=settings.auto_migrate)
    try:
        with store.read() as conn:
            keys = list_namespaces(conn, org_id=org)
        if namespace is not None:
            keys = [key for key in keys if key[1] == namespace]
            if not keys:
                typer.echo(f"no namespace {org}/{namespace} in the store", err=True)
                raise typer.Exit(1)
        registry = SnapshotRegistry(
            store,
            base_knobs=settings.knobs,
            now_us=lambda: time.time_ns() // 1000,
            shelf=ArtifactShelf(Path(settings.snapshot_dir), store),
        )
        for org_id, name in keys:
            started = time.monotonic()
            outcome = registry.build(org_id, name, force=force)
            registry.invalidate(org_id, name)  # one namespace in memory at a time
            took = time.monotonic() - started
            typer.echo(
                f"{org_id}/{name}: {outcome.status} {outcome.version or '-'} "
                f"({outcome.events} events, {took:.1f} s)"
            )
    finally:
        store.close()


@app.command()
def migrate() -> None:
    """Apply database migrations to RECSYS_DATABASE_URL and exit."""
    from recsys.config.settings import Settings
    from recsys.store import Store

    settings = Settings.from_env()
    store = Store.from_url(settings.database_url, migrate=True)
    store.close()
    typer.echo(f"migrated {settings.database_url.split('@')[-1]}")


@app.command()
def knobs(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print docs/env_reference.md instead of a table.")
    ] = False,
) -> None:
    """List every ranking knob: variable (its override key is the name in lower case), type,
    default, accepted range and scope (set per request, or per namespace only)."""
    from recsys.config.knobs import KNOBS, reference_markdown

    if markdown:
        typer.echo(reference_markdown(), nl=False)
        return
    typer.echo(knob_table(KNOBS), nl=False)


def knob_table(knobs: Sequence[Knob]) -> str:
    """Knobs as aligned text columns under a header; `(empty)` for an empty default."""
    header = ("VARIABLE", "TYPE", "DEFAULT", "RANGE", "SCOPE")
    rows = [header] + [
        (k.name, k.kind, k.render(k.default) or "(empty)", k.range_text or "-", k.scope)
        for k in knobs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[-1]
        + "\n"
        for row in rows
    )


@app.command()
def version() -> None:
    """Print the package version."""
    from recsys import __version__

    typer.echo(__version__)


def _register_playbook() -> None:
    """Add the playbook's commands (their modules import only typer until a command runs)."""
    from recsys.cli import (
        bandit,
        bench,
        datasets,
        importing,
        openapi,
        optimize,
        page_keys,
        playbook,
        scenarios,
        ship,
        tools,
        tuning,
    )

    app.command("reset")(playbook.reset)
    app.command("seed")(playbook.seed)
    app.add_typer(playbook.profile_app, name="profile")
    app.command("eval")(tuning.quality_eval)
    app.command("tune")(tuning.tune)
    app.command("optimize")(optimize.optimize)
    app.command("guardrails")(tuning.guardrails)
    app.add_typer(ship.ship_app, name="ship")
    app.command("scenarios")(scenarios.scenarios)
    app.command("simulate")(tools.simulate)
    app.command("determinism")(tools.determinism)
    app.command("load")(tools.load)
    app.command("rules-check")(tools.rules_check)
    app.command("exposure")(tools.exposure)
    app.command("profile-coverage")(tools.profile_coverage)
    app.command("import")(importing.import_data)
    app.add_typer(datasets.datasets_app, name="datasets")
    app.add_typer(bench.bench_app, name="bench")
    app.add_typer(page_keys.page_keys_app, name="page-keys")
    app.command("openapi")(openapi.openapi)
    app.command("bandit-simulate")(bandit.simulate)


_register_playbook()


def run_script(verb: list[str], argv: list[str]) -> None:
    """Entry point of analysis/scripts/*.py: `recsys <verb...> <argv>`."""
    app(args=[*verb, *argv], prog_name="recsys")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
