"""`recsys ship`: gate a tuning run and start its canary; `ship status` and `ship stop` watch
and end it. The decision itself is the server's (docs/shipping.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.cli.common import BaseUrl, Insecure, Namespace, OrgId, client

ship_app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
    help="Ship a tuning run through a canary: gate, start, watch (status), stop.",
)

Surface = Annotated[str, typer.Option(help="Surface the canary runs on.")]


def _refuse(reasons: list[str]) -> None:
    typer.echo("refused:", err=True)
    for reason in reasons:
        typer.echo(f"  - {reason}", err=True)
    raise typer.Exit(1)


@ship_app.callback()
def ship(
    ctx: typer.Context,
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    run_dir: Annotated[
        Path | None,
        typer.Option(help="Tuning run folder (default: the newest one of the namespace)."),
    ] = None,
    run: Annotated[
        int | None,
        typer.Option(help="Run id (default: the run chosen on the validation window)."),
    ] = None,
    surface: Surface = "home",
    traffic_share: Annotated[
        float, typer.Option(min=0.01, max=0.99, help="Share of users served the candidate.")
    ] = 0.2,
    min_decisions: Annotated[
        int, typer.Option(min=1, help="Decisions per arm before any verdict.")
    ] = 200,
    confidence: Annotated[
        float, typer.Option(min=0.51, max=0.999, help="Posterior probability a verdict needs.")
    ] = 0.95,
    budget: Annotated[
        int, typer.Option(min=2, help="Decisions (both arms) after which it stops undecided.")
    ] = 20_000,
    look_every: Annotated[int, typer.Option(min=1, help="Decisions between looks.")] = 100,
    min_coverage_ratio: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Live guardrail: candidate/control distinct items."),
    ] = 0.5,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Data drift allowed since tuning (items/users/events)."
        ),
    ] = 0.10,
    guardrails: Annotated[Path | None, typer.Option(help="Guardrails YAML.")] = None,
    author: Annotated[str | None, typer.Option(help="Who ships (kept with the canary).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Gate only: say whether it may ship.")
    ] = False,
) -> None:
    """Gate a tuning run (its test-window guardrails, its namespace, the data it was tuned on)
    and start a canary between the incumbent config and the run's overrides. Exit 0: started
    (or, with --dry-run, may ship); 1: refused, with the reasons; 2: bad input."""
    if ctx.invoked_subcommand is not None:
        return
    from recsys.cli.tools import _exits
    from recsys.cli.tuning import GUARDRAILS_FILE
    from recsys.offline.guardrails import GuardrailsError, load_thresholds
    from recsys.toolkit.data import fetch_namespace
    from recsys.toolkit.runs import matching_summaries
    from recsys.toolkit.ship import ShipRefused, canary_body, gate, load_candidate, shippable
    from recsys.toolkit.tuning import data_shape

    live_namespace = namespace
    if run_dir is None:
        found = matching_summaries(namespace)
        if not found:
            _refuse([f"no tuning run of {namespace!r} (run tuning_harness.py first)"])
        path, summary = found[-1]
        run_dir, live_namespace = path.parent, str(summary.get("namespace"))
    else:
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
            if namespace in summary.get("aliases", []):
                live_namespace = str(summary.get("namespace"))
        except (OSError, json.JSONDecodeError):
            pass  # load_candidate says what is wrong with the folder
    try:
        candidate = load_candidate(run_dir, namespace=live_namespace, run=run)
    except (ShipRefused, OSError) as exc:
        _refuse([str(exc)])
    try:
        thresholds = load_thresholds(
            guardrails or GUARDRAILS_FILE, namespace=live_namespace, overrides={}
        )
    except GuardrailsError as exc:
        typer.echo(f"guardrails: {exc}", err=True)
        raise typer.Exit(2) from exc
    with _exits(base_url), client(base_url, org_id, insecure) as api:
        live = data_shape(fetch_namespace(api, live_namespace))
        overrides, unshippable = shippable(candidate, api.config(live_namespace)["config"])
        reasons = gate(candidate, thresholds, live, tolerance=tolerance) + unshippable
        if reasons:
            _refuse(reasons)
        typer.echo(
            f"run {candidate.run} of {run_dir} passes the gate: test-window guardrails "
            f"({thresholds.source}) hold and the data is within {tolerance:.0%} of what it was "
            "tuned on"
        )
        if dry_run:
            return
        body = canary_body(
            candidate,
            overrides,
            surface=surface,
            traffic_share=traffic_share,
            min_decisions=min_decisions,
            confidence=confidence,
            budget_decisions=budget,
            look_every=look_every,
            min_coverage_ratio=min_coverage_ratio,
            author=author,
        )
        started = _start(api, body)
    typer.echo(f"canary {started['canary_id']} started on {live_namespace}/{surface}")
    _print(started)
    typer.echo(f"watch: recsys ship status {started['canary_id']}  stop: recsys ship stop <id>")


def _start(api: Any, body: dict[str, Any]) -> dict[str, Any]:
    from recsys.client import ApiCallError

    try:
        answer: dict[str, Any] = api.post("/v1/ship/canaries", body)
    except ApiCallError as exc:
        if exc.status == 409 or exc.code == "invalid_config":
            _refuse([exc.message])
        raise
    return answer


def _print(canary: dict[str, Any]) -> None:
    """The canary's state, one fact per line."""
    rule = canary["rule"]
    typer.echo(
        f"  status {canary['status']}  verdict {canary['verdict']}: {canary['reason']}\n"
        f"  candidate {json.dumps(canary['overrides'], sort_keys=True)} on "
        f"{canary['traffic_share']:.0%} of users; control: config v{canary['incumbent_version']}\n"
        f"  rule: {rule['min_decisions']} decisions per arm, confidence {rule['confidence']}, "
        f"budget {rule['budget_decisions']}, a look every {rule['look_every']}"
    )
    for arm in canary["arms"]:
        mean = "-" if arm.get("mean") is None else f"{arm['mean']:.4f}"
        posterior = arm["posterior"]
        typer.echo(
            f"  {arm['arm']:<9} decisions {arm['decisions']:>7}  rewards {arm['rewards']:>6}  "
            f"mean {mean}  posterior Beta({posterior['alpha']:.1f}, {posterior['beta']:.1f})"
        )
    holdout = canary["holdout"]
    if holdout["decisions"]:
        typer.echo(f"  holdout   decisions {holdout['decisions']:>7}  rewards {holdout['rewards']}")
    left = canary.get("seconds_left")
    eta = f", about {left / 60:.0f} min at the current rate" if left is not None else ""
    typer.echo(
        f"  P(candidate better) {canary['p_candidate_better']:.4f}; "
        f"{canary['decisions_left']} decisions left{eta}"
    )
    if canary.get("promoted_version"):
        typer.echo(f"  promoted as config v{canary['promoted_version']}")


@ship_app.command("status")
def status(
    canary_id: Annotated[
        str | None, typer.Argument(help="A canary id (default: list all).")
    ] = None,
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """One canary's state and trail, or the namespace's canaries (newest first)."""
    from recsys.cli.tools import _exits

    with _exits(base_url), client(base_url, org_id, insecure) as api:
        if canary_id is None:
            listed = api.get("/v1/ship/canaries", namespace=namespace)
            if as_json:
                typer.echo(json.dumps(listed, indent=2, sort_keys=True))
                return
            if not listed["canaries"]:
                typer.echo(f"no canaries in {namespace!r}")
            for canary in listed["canaries"]:
                typer.echo(
                    f"{canary['canary_id']}  {canary['surface']:<12} {canary['status']:<12} "
                    f"{canary['created_at']}"
                )
            return
        canary = api.get(f"/v1/ship/canaries/{canary_id}")
    if as_json:
        typer.echo(json.dumps(canary, indent=2, sort_keys=True))
        return
    typer.echo(f"canary {canary['canary_id']} on {canary['namespace']}/{canary['surface']}")
    _print(canary)
    typer.echo("  trail:")
    for step in canary.get("steps", []):
        p = step.get("p_candidate_better")
        typer.echo(
            f"    {step['at']}  {step['kind']:<11}"
            + (f" P={p:.4f}" if p is not None else "")
            + (f"  {step['reason']}" if step.get("reason") else "")
        )


@ship_app.command("stop")
def stop(
    canary_id: Annotated[
        str | None,
        typer.Argument(help="The running canary's id (default: the one on --surface)."),
    ] = None,
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    surface: Surface = "home",
    reason: Annotated[str | None, typer.Option(help="Why (kept in its trail).")] = None,
    author: Annotated[str | None, typer.Option(help="Who stops it.")] = None,
) -> None:
    """Stop a running canary (by id, or the one running on --namespace/--surface); the
    incumbent config stays. Exit 2 when there is none."""
    from recsys.cli.tools import _exits

    with _exits(base_url), client(base_url, org_id, insecure) as api:
        if canary_id is None:
            running = api.get("/v1/ship/canaries", namespace=namespace, status="running")
            found = [c for c in running["canaries"] if c["surface"] == surface]
            if not found:
                typer.echo(f"error: no canary runs on {namespace}/{surface}", err=True)
                raise typer.Exit(2)
            canary_id = found[0]["canary_id"]
        stopped = api.post(
            f"/v1/ship/canaries/{canary_id}/stop", {"reason": reason, "author": author}
        )
    typer.echo(f"canary {canary_id} stopped; config v{stopped['incumbent_version']} stays")
