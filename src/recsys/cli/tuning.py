"""Playbook commands that measure: eval, tune, guardrails."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.cli.common import BaseUrl, Insecure, Namespace, OrgId, client, floats, ints, now
from recsys.cli.search_options import search_options

GUARDRAILS_FILE = Path("guardrails.yml")


def _sweep_values(options: dict[str, str | None]) -> dict[str, list[float]]:
    """{knob key: comma-separated values} -> {knob key: numbers} for the knobs given."""
    from recsys.config.knobs import KNOBS_BY_KEY

    values: dict[str, list[float]] = {}
    for key, text in options.items():
        if text:
            parse = ints if KNOBS_BY_KEY[key].kind == "int" else floats
            values[key] = list(parse(text))
    return values


def _refuse_namespace_knobs(configurations: list[dict[str, Any]]) -> None:
    """The http engine sends each configuration as request overrides, which the server refuses
    for namespace-level knobs (they change how a signal is built)."""
    from recsys.config.knobs import KNOBS_BY_KEY

    swept = sorted(
        {
            key
            for configuration in configurations
            for key in configuration
            if key in KNOBS_BY_KEY and KNOBS_BY_KEY[key].scope == "namespace"
        }
    )
    if swept:
        typer.echo(
            f"{', '.join(swept)}: a namespace setting, which a request cannot override; "
            "sweep it with --engine local (it rebuilds the signal for each value)",
            err=True,
        )
        raise typer.Exit(2)


@search_options("sweep")
def tune(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    profile_name: Annotated[
        str | None, typer.Option(help="Env profile whose config is the base of every run.")
    ] = None,
    segment: Annotated[
        str | None, typer.Option(help="Tune for one segment: evaluate its users only.")
    ] = None,
    samples: Annotated[int, typer.Option(min=1, help="Random grid points (without --grid).")] = 8,
    seed: Annotated[int, typer.Option(help="Seed for sampling, splits and bootstraps.")] = 2025,
    grid: Annotated[bool, typer.Option("--grid", help="Every combination, not a sample.")] = False,
    suggestions: Annotated[
        Path | None, typer.Option(help="Evaluate the configurations of an ai_optimizer file.")
    ] = None,
    reset_namespace: Annotated[
        bool, typer.Option("--reset-namespace", help="Reset and reseed the namespace first.")
    ] = False,
    seed_users: Annotated[int, typer.Option(help="Users when reseeding.")] = 600,
    seed_events: Annotated[int, typer.Option(help="Events when reseeding.")] = 40000,
    sleep_ms: Annotated[
        int, typer.Option(min=0, help="Pause before each HTTP ranking request (http engine).")
    ] = 0,
    quality_limit_users: Annotated[
        int, typer.Option(min=1, help="Evaluate at most this many held-out users.")
    ] = 150,
    quality_request_timeout: Annotated[
        float, typer.Option(min=1, help="HTTP timeout per request, seconds.")
    ] = 60.0,
    engine: Annotated[
        str,
        typer.Option(
            help="local: the same pipeline in-process (fast, exact); http: ask the server."
        ),
    ] = "local",
    knob_options: dict[str, str | None] | None = None,
) -> None:
    """Sweep the tunable knobs (one option per knob of the catalogue's search space: blend
    weights, fan-out, item-model l2, MMR, personalisation); write per-run JSON, summary,
    charts, report and an evidence bundle under analysis/results/tuning_runs/."""
    from rich.progress import Progress

    from recsys.config.knobs import defaults
    from recsys.offline.guardrails import GuardrailsError, load_thresholds
    from recsys.offline.search_space import SweepSpace
    from recsys.toolkit.data import fetch_namespace, fetch_policy, seed_namespace
    from recsys.toolkit.data import reset_namespace as reset_ns
    from recsys.toolkit.profiles import load_profile, profile_path
    from recsys.toolkit.tuning import EmptyWindow, TuningPlan, run_sweep

    if engine not in {"local", "http"}:
        raise typer.BadParameter("--engine must be local or http")
    values = _sweep_values(knob_options or {})
    if suggestions is not None:
        configurations = [s["config"] for s in json.loads(suggestions.read_text())["suggestions"]]
    else:
        configurations = SweepSpace(values).configurations(grid=grid, samples=samples, seed=seed)
    base: dict[str, Any] = {}
    if profile_name and profile_path(namespace, profile_name).exists():
        base = dict(load_profile(namespace, profile_name).get("config", {}))
    if engine == "http":
        _refuse_namespace_knobs(configurations)
    try:
        thresholds = load_thresholds(GUARDRAILS_FILE, namespace=namespace)
    except GuardrailsError as exc:
        typer.echo(f"guardrails: {exc}", err=True)
        raise typer.Exit(2) from exc
    timestamp = now()
    with client(
        base_url, org_id, insecure, timeout=quality_request_timeout, sleep_ms=sleep_ms
    ) as api:
        if reset_namespace:
            reset_ns(api, namespace, now=timestamp)
            seed_namespace(
                api,
                namespace,
                users=seed_users,
                events=seed_events,
                items=None,
                seed=seed,
                now=timestamp,
            )
        data = fetch_namespace(api, namespace)
        if len(data.events) == 0:
            typer.echo(f"namespace {namespace!r} has no events: seed it first", err=True)
            raise typer.Exit(2)
        plan = TuningPlan(
            namespace=namespace,
            configurations=configurations,
            base_overrides=base,
            segment=segment,
            engine=engine,
            limit_users=quality_limit_users,
            seed=seed,
            profile_name=profile_name,
            command=" ".join(["tuning_harness.py", *sys.argv[1:]]),
            org_id=org_id,
        )
        with Progress(transient=True) as bar:
            task = bar.add_task("runs", total=len(configurations))
            try:
                folder = run_sweep(
                    plan,
                    data,
                    base_knobs=defaults(),
                    thresholds=thresholds,
                    now=timestamp,
                    client=api,
                    policy_at=lambda cut_us: fetch_policy(api, namespace, as_of_us=cut_us),
                    progress=lambda n: bar.advance(task, n),
                )
            except EmptyWindow as exc:
                typer.echo(f"namespace {namespace!r}: {exc}", err=True)
                raise typer.Exit(2) from exc
    summary = json.loads((folder / "summary.json").read_text())
    typer.echo(f"{len(summary['runs'])} runs in {summary['seconds']} s -> {folder}")
    for objective, run in summary["best"].items():
        typer.echo(f"  best {objective} on validation: run {run}")
    typer.echo(
        f"  guardrails on validation: {summary['passed']} passed, {summary['failed']} failed"
    )
    chosen = summary["chosen"]
    test = chosen["test"]
    lift = test["lift"]["ndcg@10"]
    typer.echo(
        f"  chosen: run {chosen['run']} (validation {chosen['chosen_by']} "
        f"{chosen['validation'][chosen['chosen_by']]:+.4f}); on the test window ndcg@10 "
        f"{test['metrics']['ndcg@10']:.4f} vs popularity {test['baseline']['ndcg@10']:.4f}, "
        f"lift {lift['absolute']:+.4f} [{lift['ci95_low']:+.4f}, {lift['ci95_high']:+.4f}], "
        f"guardrails {'pass' if test['guardrails']['passed'] else 'FAIL'}"
    )


def quality_eval(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    engine: Annotated[str, typer.Option(help="http (default) or local.")] = "http",
    limit_users: Annotated[int, typer.Option(min=1, help="Held-out users to score.")] = 300,
    train_share: Annotated[float, typer.Option(help="Share of events before the cut.")] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed for sampling and bootstraps.")] = 42,
    overrides: Annotated[str, typer.Option(help="Knob overrides as JSON.")] = "{}",
    output: Annotated[Path | None, typer.Option(help="Write the report JSON here.")] = None,
) -> None:
    """Temporal holdout: rank each held-out user as of the cut (context.as_of), score
    ndcg@10, mrr@10, recall@20, coverage, long tail, ILS, novelty, overall and per segment,
    with lifts over a popularity baseline (bootstrap 95% CI)."""
    from recsys.config.knobs import defaults
    from recsys.offline.dataset import temporal_split
    from recsys.offline.evaluate import LocalRanker, Ranker, Reference, evaluate
    from recsys.offline.http_ranker import HttpRanker
    from recsys.toolkit.data import fetch_namespace, fetch_policy
    from recsys.toolkit.evidence import ANALYSIS, manifest, new_folder, stamp, write_json

    timestamp = now()
    with client(base_url, org_id, insecure) as api:
        data = fetch_namespace(api, namespace)
        split = temporal_split(data, train_share=train_share, max_users=limit_users, seed=seed)
        if not split.users:
            typer.echo("no user has events on both sides of the split: seed more data", err=True)
            raise typer.Exit(2)
        local = LocalRanker(
            data,
            cut_us=split.cut_us,
            base_knobs=defaults(),
            policy=fetch_policy(api, namespace, as_of_us=split.cut_us),
        )
        ranker: Ranker = (
            local if engine == "local" else HttpRanker(api, namespace, cut_us=split.cut_us)
        )
        result = evaluate(
            ranker,
            split,
            Reference.from_snapshot(local.snapshot),
            data.segments(),
            overrides=json.loads(overrides),
            seed=seed,
        )
    report = {k: v for k, v in result.items() if not k.startswith("_")}
    report.update(namespace=namespace, engine=engine, cut_us=split.cut_us)
    folder = new_folder(ANALYSIS / "evidence", f"quality_{namespace}_{stamp(timestamp)}")
    write_json(folder / "quality.json", report)
    manifest(folder, tool="run_quality_eval", now=timestamp, extra={"namespace": namespace})
    if output:
        write_json(output, report)
    m, b = report["metrics"], report["baseline"]
    typer.echo(f"{'metric':<22}{'recsys':>10}{'popularity':>12}")
    for name in (
        "ndcg@10",
        "mrr@10",
        "recall@20",
        "catalog_coverage",
        "long_tail_share",
        "intra_list_similarity",
        "novelty",
    ):
        typer.echo(f"{name:<22}{m[name]:>10.4f}{b[name]:>12.4f}")
    for name, lift in report["lift"].items():
        typer.echo(
            f"lift {name}: {lift['absolute']:+.4f} "
            f"[{lift['ci95_low']:+.4f}, {lift['ci95_high']:+.4f}]"
        )
    typer.echo(f"evidence: {folder}")


def guardrails(
    namespace: Namespace = "demo",
    min_ndcg: Annotated[float | None, typer.Option(help="Floor for segment NDCG@10 lift.")] = None,
    min_mrr: Annotated[float | None, typer.Option(help="Floor for segment MRR@10 lift.")] = None,
    min_coverage: Annotated[float | None, typer.Option(help="Floor for catalog coverage.")] = None,
    min_long_tail: Annotated[float | None, typer.Option(help="Floor for long-tail share.")] = None,
    file: Annotated[Path, typer.Option(help="Guardrails YAML.")] = GUARDRAILS_FILE,
    latest_only: Annotated[
        bool, typer.Option("--latest-only", help="Check only the newest matching summary.")
    ] = False,
) -> None:
    """Check the configuration each matching tuning summary chose, on its test-window figures,
    against guardrails.yml (flags override it). Exit 0: all pass; 1: a violation; 2: bad input
    or nothing to check."""
    from recsys.offline.guardrails import GuardrailsError, load_thresholds, quality_checks
    from recsys.toolkit.runs import known_names, matching_summaries

    summaries = matching_summaries(namespace)
    if latest_only and summaries:
        summaries = summaries[-1:]
    if not summaries:
        names = ", ".join(known_names()) or "none yet (run tuning_harness.py)"
        typer.echo(f"no tuning runs for {namespace!r}; known: {names}", err=True)
        raise typer.Exit(2)
    try:
        thresholds = load_thresholds(
            file,
            namespace=summaries[-1][1]["namespace"],
            overrides={
                "min_segment_lift_ndcg": min_ndcg,
                "min_segment_lift_mrr": min_mrr,
                "min_catalog_coverage": min_coverage,
                "min_long_tail_share": min_long_tail,
            },
        )
    except GuardrailsError as exc:
        typer.echo(f"guardrails: {exc}", err=True)
        raise typer.Exit(2) from exc
    failures = 0
    checked = 0
    header = f"{'summary':<34}{'run':>4}  " + "  ".join(f"{k:>24}" for k in thresholds.quality)
    typer.echo(f"thresholds ({thresholds.source}): " + json.dumps(dict(thresholds.quality)))
    typer.echo(f"figures: each summary's chosen configuration on its test window\n{header}")
    for path, summary in summaries:
        chosen = summary.get("chosen")
        if chosen is None:
            # Written before runs had a validation window: its figures chose its best run.
            typer.echo(f"{path.parent.name:<34}   -  skipped: no test-window figures")
            continue
        checks = quality_checks(chosen["test"]["objectives"], thresholds)
        cells = []
        for check in checks:
            mark = "ok " if check.passed else "BAD"
            value = "nan" if math.isnan(check.value) else f"{check.value:.4f}"
            cells.append(f"{mark} {value:>9} >= {check.threshold:<7g}")
        checked += 1
        failures += not all(c.passed for c in checks)
        typer.echo(f"{path.parent.name:<34}{chosen['run']:>4}  " + "  ".join(cells))
    if not checked:
        typer.echo("no summary has test-window figures: run tuning_harness.py again", err=True)
        raise typer.Exit(2)
    typer.echo(f"{checked - failures} of {checked} chosen configurations pass")
    raise typer.Exit(1 if failures else 0)
