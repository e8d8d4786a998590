"""`recsys bench quality`: the served pipeline against standard baselines on a dataset."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from recsys.offline.dataset import NamespaceData

bench_app = typer.Typer(
    rich_markup_mode=None,
    help="Benchmarks. `quality`: ranking quality against standard baselines.",
    no_args_is_help=True,
)

DATASETS = ("movielens-100k",)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@bench_app.command("quality")
def quality(
    dataset: Annotated[
        str | None,
        typer.Option(help="A fetched dataset (`recsys datasets fetch NAME`): movielens-100k."),
    ] = None,
    items: Annotated[Path | None, typer.Option(help="Items file in the import format.")] = None,
    users: Annotated[Path | None, typer.Option(help="Users file in the import format.")] = None,
    events: Annotated[Path | None, typer.Option(help="Events file in the import format.")] = None,
    protocol: Annotated[
        str, typer.Option(help="stratified (per-user random 75/25) or temporal (80% time cut).")
    ] = "stratified",
    output: Annotated[Path | None, typer.Option(help="Write the JSON document here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split and of the tuning sample.")] = 42,
    tuning_samples: Annotated[
        int, typer.Option(help="Knob configurations the harness tries for recsys_tuned.")
    ] = 40,
    rows: Annotated[
        str | None,
        typer.Option(help="Comma-separated rows to run (default: all six)."),
    ] = None,
    max_users: Annotated[
        int | None, typer.Option(help="Score a seeded sample of this many users (smoke runs).")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Dataset cache (default: env RECSYS_DATA_CACHE or ./.cache/datasets)."),
    ] = None,
) -> None:
    """Score popularity, itemknn, als, ease, recsys_default and recsys_tuned on one dataset under
    one protocol; print a Markdown table, and write the JSON with --output."""
    from recsys.offline.protocols import PROTOCOLS
    from recsys.offline.quality import ROW_ORDER, BenchOptions, markdown_table, run_quality_bench

    if protocol not in PROTOCOLS:
        _fail(f"unknown protocol {protocol!r}: use {' or '.join(PROTOCOLS)}")
    if (dataset is None) == (events is None):
        _fail("give either --dataset NAME or --events FILE (with optional --items/--users)")
    chosen = tuple(r.strip() for r in rows.split(",") if r.strip()) if rows else ROW_ORDER
    unknown = [r for r in chosen if r not in ROW_ORDER]
    if unknown:
        _fail(f"unknown rows {unknown}: use {', '.join(ROW_ORDER)}")
    if tuning_samples < 1:
        _fail("--tuning-samples must be at least 1")
    if dataset is not None:
        if dataset not in DATASETS:
            _fail(f"unknown dataset {dataset!r}: use {', '.join(DATASETS)}")
        data = _load_dataset(dataset, cache_dir)
        name = dataset
    else:
        assert events is not None
        data = _load_files(items=items, users=users, events=events)
        name = events.parent.name or str(events)
    options = BenchOptions(
        protocol=protocol,
        dataset=name,
        seed=seed,
        tuning_samples=tuning_samples,
        rows=chosen,
        max_users=max_users,
    )
    document = run_quality_bench(data, options, progress=_say)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=2) + "\n")
        _say(f"wrote {output}")
    print(f"{name}, protocol {protocol}, k = 10, {document['users']} users\n")
    print(markdown_table(document))
    if document["paired"]:
        print(
            "\nDifferences are paired on the same test users; a 95% interval above 0 means "
            "recsys_tuned is ahead beyond what resampling the users explains."
        )


def _fail(message: str) -> NoReturn:
    _say(f"error: {message}")
    raise typer.Exit(2)


def _load_dataset(name: str, cache_dir: Path | None) -> NamespaceData:
    """The dataset from the cache, fetched first when it is not there (as `recsys datasets
    fetch` does); when fetching fails, exit 2 naming the command that fetches it."""
    from recsys.datasets import DatasetError, known_datasets, resolve_cache_dir
    from recsys.offline.dataset import namespace_data_from_records

    spec = known_datasets()[name]
    root = resolve_cache_dir(cache_dir)
    if not spec.is_fetched(root):
        _say(f"{name} is not in the cache {root}: fetching it")
        try:
            spec.fetch(root)
        except (DatasetError, OSError) as exc:
            _fail(
                f"{name} could not be fetched ({exc}); fetch it with "
                f"`recsys datasets fetch {name} --cache-dir {root}` and run this again"
            )
    try:
        records = spec.load(root)
    except DatasetError as exc:
        _fail(str(exc))
    return namespace_data_from_records(
        items=records.items, users=records.users, events=records.events
    )


def _load_files(*, items: Path | None, users: Path | None, events: Path) -> NamespaceData:
    from recsys.imports.formats import ImportFormatError
    from recsys.imports.offline import load_namespace_data

    for path in (items, users, events):
        if path is not None and not path.is_file():
            _fail(f"no such file: {path}")
    try:
        return load_namespace_data(items=items, users=users, events=events)
    except ImportFormatError as exc:
        _fail(str(exc))
