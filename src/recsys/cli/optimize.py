"""Playbook step 5: suggest the next configurations to sweep, from every past tuning run of a
namespace (or alias), by constrained Bayesian optimisation (recsys.offline.optimizer)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from recsys.cli.common import Namespace
from recsys.cli.search_options import search_options

if TYPE_CHECKING:
    from recsys.offline.optimizer import Observation

GUARDRAILS_FILE = Path("guardrails.yml")
OUTPUT_FILE = Path("analysis") / "results" / "next_suggestions.json"
# guardrails.yml quality floor -> the run objective it bounds (as quality_checks measures it).
FLOOR_OBJECTIVES = {
    "min_segment_lift_ndcg": "segment_ndcg_lift",
    "min_segment_lift_mrr": "segment_mrr_lift",
    "min_catalog_coverage": "catalog_coverage",
    "min_long_tail_share": "long_tail_share",
}
Range = tuple[float, float]


@search_options("range")
def optimize(
    namespace: Namespace = "demo",
    objective: Annotated[
        str,
        typer.Option(
            help="Objective to maximise: one of recsys.offline.search_space.OBJECTIVES "
            "(ndcg_lift, segment_ndcg_lift, mrr_lift, segment_mrr_lift, catalog_coverage, "
            "long_tail_share)."
        ),
    ] = "segment_ndcg_lift",
    suggestions: Annotated[int, typer.Option(min=1, help="Configurations to suggest.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the candidate designs.")] = 2025,
    output: Annotated[Path, typer.Option(help="Write the suggestions JSON here.")] = OUTPUT_FILE,
    guardrails_file: Annotated[
        Path, typer.Option("--guardrails", help="Guardrails YAML: its quality floors constrain.")
    ] = GUARDRAILS_FILE,
    knob_options: dict[str, Range] | None = None,
) -> None:
    """Suggest the next knob configurations from every past tuning run of the namespace (or
    alias such as tune_seg_power_users): a Gaussian process per objective, expected improvement
    times the probability of meeting the guardrail floors, a diverse batch. Without enough runs,
    a space-filling design. Searches every tunable knob of the catalogue (one range option
    each). The output's configs feed `tuning_harness.py --suggestions FILE`."""
    from recsys.config.knobs import KNOBS_BY_KEY
    from recsys.offline.guardrails import GuardrailsError, load_thresholds
    from recsys.offline.optimizer import propose
    from recsys.offline.search_space import OBJECTIVES
    from recsys.toolkit.evidence import write_json
    from recsys.toolkit.runs import known_names, matching_summaries

    if objective not in OBJECTIVES:
        _fail(f"unknown objective {objective!r}; choose one of: {', '.join(OBJECTIVES)}")
    ranges: dict[str, Range] = {}
    for knob, (low, high) in (knob_options or {}).items():
        spec = KNOBS_BY_KEY[knob]
        assert spec.search is not None
        flag = spec.search.range_option
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            _fail(f"{flag}: needs LOW < HIGH, got {low:g} {high:g}")
        if spec.search.scale == "log" and low <= 0:
            _fail(f"{flag}: {knob} is searched on a log scale: LOW must be above 0")
        if (spec.minimum is not None and low < spec.minimum) or (
            spec.maximum is not None and high > spec.maximum
        ):
            _fail(f"{flag}: {knob} must stay within [{spec.minimum}, {spec.maximum}]")
        if spec.kind == "int" and math.ceil(low) > math.floor(high):
            _fail(f"{flag}: no whole number between {low:g} and {high:g}")
        ranges[knob] = (float(low), float(high))

    summaries = matching_summaries(namespace)
    if not summaries:
        names = ", ".join(known_names()) or "none yet"
        typer.echo(
            f"no tuning runs for {namespace!r} (known: {names}): suggesting a space-filling design",
            err=True,
        )
    namespaces = sorted({str(s.get("namespace")) for _, s in summaries})
    segments = sorted({str(s.get("segment")) for _, s in summaries if s.get("segment")})
    if len(namespaces) > 1:
        typer.echo(f"note: pooling runs of several namespaces: {', '.join(namespaces)}", err=True)
    if len(segments) > 1:
        typer.echo(
            f"note: pooling runs tuned for several segments: {', '.join(segments)}", err=True
        )
    try:
        thresholds = load_thresholds(
            guardrails_file, namespace=summaries[-1][1]["namespace"] if summaries else namespace
        )
    except GuardrailsError as exc:
        _fail(f"guardrails: {exc}")
    constraints = {
        FLOOR_OBJECTIVES[key]: value
        for key, value in thresholds.quality.items()
        if key in FLOOR_OBJECTIVES
    }
    history = observations(summaries, tuple(ranges))
    try:
        proposal = propose(
            history,
            ranges=ranges,
            objective=objective,
            constraints=constraints,
            n=suggestions,
            seed=seed,
        )
    except ValueError as exc:
        _fail(str(exc))

    payload: dict[str, Any] = {
        "namespace": namespace,
        "objective": objective,
        "strategy": proposal.strategy,
        "reason": proposal.reason,
        "history_runs": proposal.history_runs,
        "skipped_runs": proposal.skipped_runs,
        "summaries": [str(path) for path, _ in summaries],
        "source_namespaces": namespaces,
        "segments": segments,
        "seed": seed,
        "ranges": {knob: [_plain(v) for v in bounds] for knob, bounds in ranges.items()},
        "constraints": constraints,
        "constraints_source": thresholds.source,
        "incumbent": proposal.incumbent,
        "models": proposal.models,
        "suggestions": [
            {"rank": rank, **s.as_dict()} for rank, s in enumerate(proposal.suggestions, start=1)
        ],
    }
    write_json(output, payload)
    _table(payload)
    typer.echo(f"wrote {output}")


def observations(
    summaries: list[tuple[Path, dict[str, Any]]], knobs: tuple[str, ...]
) -> list[Observation]:
    """Every run of every summary as an Observation. A knob missing from a run's parameters
    (not swept) is taken from its run_###.json: the overrides it records, else the value every
    tunable knob had in that run; otherwise the run cannot be located and the optimizer
    skips it."""
    from recsys.offline.optimizer import Observation

    found = []
    for path, summary in summaries:
        for run in summary.get("runs", []):
            parameters = dict(run.get("parameters") or {})
            missing = [k for k in knobs if k not in parameters]
            if missing and isinstance(run.get("run"), int):
                parameters.update(_recorded_overrides(path.parent, run["run"], missing))
            found.append(Observation(parameters, dict(run.get("objectives") or {})))
    return found


def _recorded_overrides(folder: Path, run: int, knobs: list[str]) -> dict[str, Any]:
    try:
        record = json.loads((folder / f"run_{run:03d}.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if not isinstance(record, dict):
        return {}
    found: dict[str, Any] = {}
    for field in ("knobs", "overrides"):  # overrides win: they are what the run asked for
        values = record.get(field)
        if isinstance(values, dict):
            found.update({k: values[k] for k in knobs if k in values})
    return found


def _table(payload: dict[str, Any]) -> None:
    typer.echo(
        f"{payload['namespace']}: {payload['strategy']} from {payload['history_runs']} run(s), "
        f"objective {payload['objective']}"
        + (
            f" ({payload['skipped_runs']} run(s) skipped: a knob or the objective missing)"
            if payload["skipped_runs"]
            else ""
        )
    )
    typer.echo(f"  {payload['reason']}")
    if payload["constraints"]:
        floors = ", ".join(f"{k} >= {v:g}" for k, v in payload["constraints"].items())
        typer.echo(f"  floors ({payload['constraints_source']}): {floors}")
    knobs = list(payload["ranges"])
    header = f"{'#':>2}  " + "  ".join(f"{k:>17}" for k in knobs)
    header += f"  {'predicted ' + payload['objective']:>34}  {'P(floors met)':>13}"
    typer.echo(header)
    for s in payload["suggestions"]:
        cells = []
        for knob in knobs:
            value = s["config"][knob]
            cells.append(f"{value:>17d}" if isinstance(value, int) else f"{value:>17.4f}")
        mean, std = s["predicted"]["mean"], s["predicted"]["std"]
        predicted = "-" if mean is None else f"{mean:.4f} ± {std:.4f}"
        feasible = "-" if s["feasibility"] is None else f"{s['feasibility']:.2f}"
        typer.echo(f"{s['rank']:>2}  " + "  ".join(cells) + f"  {predicted:>34}  {feasible:>13}")


def _plain(value: float) -> float | int:
    return int(value) if value.is_integer() else value


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


__all__ = ["FLOOR_OBJECTIVES", "observations", "optimize"]
