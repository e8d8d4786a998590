"""`recsys datasets`: fetch public datasets into the local cache and export them as import files.

Only typer is imported here; the dataset modules load when a command runs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from recsys.datasets import DatasetSpec

datasets_app = typer.Typer(
    rich_markup_mode=None,
    help="Public datasets (research licences): fetched by you into a local cache, never shipped.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="Dataset name (see `recsys datasets list`).")]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Cache folder (default: $RECSYS_DATA_CACHE, else ./.cache/datasets).",
        file_okay=False,
    ),
]


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@datasets_app.command("fetch")
def fetch(name: Name, cache_dir: CacheDir = None) -> None:
    """Download a dataset into the cache (skipped when a verified copy is there)."""
    from recsys.datasets import DatasetError, resolve_cache_dir
    from recsys.datasets.cache import sha256_file

    spec = _spec(name)
    root = resolve_cache_dir(cache_dir)
    try:
        already = spec.is_fetched(root)
        path = spec.fetch(root)
    except DatasetError as exc:
        _fail(str(exc), code=1)
    except OSError as exc:  # an unwritable or odd cache folder: say so, no traceback
        _fail(f"cannot use the cache folder {root}: {exc}", code=1)
    typer.echo(f"{name}: {'already cached' if already else 'downloaded'} {path}")
    typer.echo(f"sha256 {sha256_file(path)} (verified)")


@datasets_app.command("list")
def list_datasets(cache_dir: CacheDir = None) -> None:
    """Known datasets, their licence, and whether they are in the cache."""
    from recsys.datasets import known_datasets, resolve_cache_dir

    root = resolve_cache_dir(cache_dir)
    typer.echo(f"cache: {root}")
    for spec in known_datasets().values():
        path = spec.cached_path(root)
        if spec.is_fetched(root):
            status = "cached"
        elif path.exists():
            status = "damaged: fetch again"  # listing only looks; fetch replaces the file
        else:
            status = "not fetched"
        typer.echo(f"{spec.name}  [{status}]  {spec.summary}")
        typer.echo(f"  licence: {spec.licence}")
        if path.exists():
            typer.echo(f"  file: {path}")


@datasets_app.command("export")
def export(
    name: Name,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for items/users/events files.", file_okay=False)
    ],
    format: Annotated[
        ExportFormat, typer.Option("--format", help="csv (the import format) or jsonl.")
    ] = ExportFormat.csv,
    cache_dir: CacheDir = None,
) -> None:
    """Write a fetched dataset as items, users and events import files (CSV or JSON Lines)."""
    from recsys.datasets import DatasetError, resolve_cache_dir, write_import_files
    from recsys.datasets.cache import NotFetched

    spec = _spec(name)
    root = resolve_cache_dir(cache_dir)
    try:
        records = spec.load(root)
    except NotFetched:
        _fail(
            f"{name} is not fetched yet (cache: {root}); run `recsys datasets fetch {name}` "
            "first (with the same --cache-dir / $RECSYS_DATA_CACHE)",
            code=1,
        )
    except DatasetError as exc:
        _fail(str(exc), code=1)
    try:
        paths = write_import_files(records, out, "jsonl" if format is ExportFormat.jsonl else "csv")
    except OSError as exc:
        _fail(f"cannot write to {out}: {exc}", code=1)
    counts = {"items": records.items, "users": records.users, "events": records.events}
    for kind, path in paths.items():
        typer.echo(f"{kind:6} {len(counts[kind]):>7}  {path}")


def _spec(name: str) -> DatasetSpec:
    from recsys.datasets import known_datasets

    known = known_datasets()
    if name not in known:
        _fail(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(known))}", code=2)
    return known[name]


def _fail(message: str, *, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


__all__ = ["datasets_app"]
