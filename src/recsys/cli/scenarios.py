"""`recsys scenarios` (run_scenarios.py): behavioural checks S1-S10 against a seeded namespace."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.cli.common import BaseUrl, Insecure, Namespace, OrgId, client, now

GUARDRAILS_FILE = Path("guardrails.yml")


def scenarios(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    guardrails: Annotated[
        Path, typer.Option("--guardrails", help="Guardrails YAML (S7 thresholds).")
    ] = GUARDRAILS_FILE,
    users: Annotated[int, typer.Option("--users", min=1, help="Users sampled per scenario.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the user samples.")] = 2025,
    s4_ndcg_budget: Annotated[
        float,
        typer.Option(
            "--s4-ndcg-budget",
            min=0.0,
            max=1.0,
            help="S4: share of NDCG@10 that diversification (lambda 0.3) may cost.",
        ),
    ] = 0.5,
    only: Annotated[
        str | None, typer.Option("--only", help="Run only these scenarios, e.g. S1,S7.")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Evidence folder (default analysis/evidence/scenarios_<ns>_<UTC stamp>).",
        ),
    ] = None,
) -> None:
    """Scenario checks S1-S10 (filters, rules, MMR, starter profiles, boosts, explanations),
    each PASS/FAIL with measured values and thresholds; rules are made on scenario-only
    surfaces and deleted afterwards. Writes scenarios.csv/json and a manifest.
    Exit 0: all pass; 1: a scenario failed; 2: bad input (empty namespace, bad guardrails)."""
    import httpx

    from recsys.client import ApiCallError
    from recsys.offline.guardrails import GuardrailsError, load_thresholds
    from recsys.toolkit.evidence import ANALYSIS, manifest, new_folder, stamp, write_json
    from recsys.toolkit.scenarios import ScenarioInputError, run_scenarios

    try:
        thresholds = load_thresholds(guardrails, namespace=namespace)
    except GuardrailsError as exc:
        typer.echo(f"guardrails: {exc}", err=True)
        raise typer.Exit(2) from exc
    selected = [s.strip() for s in only.split(",") if s.strip()] if only else None
    timestamp = now()
    try:
        with client(base_url, org_id, insecure) as api:
            report = run_scenarios(
                api,
                namespace,
                thresholds=thresholds,
                users=users,
                seed=seed,
                only=selected,
                ndcg_budget=s4_ndcg_budget,
            )
    except ScenarioInputError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach {base_url}: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ApiCallError as exc:
        typer.echo(f"the server refused a setup call: {exc}", err=True)
        raise typer.Exit(2) from exc
    results = report.pop("_results")
    report.update(base_url=base_url, org_id=org_id, started_at=timestamp.isoformat())

    if output_dir is None:
        folder = new_folder(ANALYSIS / "evidence", f"scenarios_{namespace}_{stamp(timestamp)}")
    else:
        folder = output_dir
        folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "scenarios.json", report)
    _write_csv(folder / "scenarios.csv", report["scenarios"])
    manifest(
        folder,
        tool="run_scenarios",
        now=timestamp,
        extra={"namespace": namespace, "passed": report["passed"], "failed": report["failed"]},
    )

    typer.echo(
        f"scenarios for {namespace!r} (thresholds: {thresholds.source} of {guardrails}; "
        f"k={report['k']}, seed={seed})"
    )
    typer.echo(f"{'scenario':<38}{'status':<8}{'check':<58}{'measured':>12}  threshold")
    for result in results:
        title = f"{result.id} {result.name}"
        status = "PASS" if result.passed else "FAIL"
        if result.error:
            typer.echo(f"{title:<38}{status:<8}error: {result.error}")
        for n, item in enumerate(result.checks):
            head = f"{title:<38}{status:<8}" if n == 0 and not result.error else " " * 46
            mark = "" if item.passed else " <-"
            typer.echo(
                f"{head}{item.name[:57]:<58}{_cell(item.value):>12}  "
                f"{item.op} {item.threshold:g}{mark}"
            )
    effects = report["side_effects"]
    if not effects["clean"]:
        typer.echo(f"side effects left in the namespace: {json.dumps(effects)}", err=True)
    typer.echo(f"{report['passed']} of {len(results)} scenarios pass; evidence: {folder}")
    failed = report["failed"] > 0 or not effects["clean"]
    raise typer.Exit(1 if failed else 0)


def _cell(value: float | None) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.2e}" if abs(value) < 1e-3 else f"{value:.4f}"


def _write_csv(path: Path, scenarios: list[dict[str, Any]]) -> None:
    """One row per check: scenario, its verdict, the check, measured value, threshold."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["scenario", "name", "status", "check", "value", "op", "threshold", "passed", "error"]
        )
        for scenario in scenarios:
            rows = scenario["checks"] or [None]
            for item in rows:
                writer.writerow(
                    [
                        scenario["id"],
                        scenario["name"],
                        scenario["status"],
                        item["name"] if item else "",
                        "" if not item or item["value"] is None else item["value"],
                        item["op"] if item else "",
                        item["threshold"] if item else "",
                        item["passed"] if item else False,
                        scenario["error"] or "",
                    ]
                )


__all__ = ["scenarios"]
