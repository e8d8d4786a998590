"""Playbook commands that probe a live server: simulate, determinism, load, rules-check,
exposure, profile-coverage. Each writes JSON evidence under analysis/evidence/ with a manifest
and exits 0 when everything holds, 1 when a check fails, 2 on bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.cli.common import BaseUrl, Insecure, Namespace, OrgId, client, ints, now

Users = Annotated[int, typer.Option("--users", min=1, help="Users to sample from the namespace.")]
Seed = Annotated[
    int, typer.Option("--seed", help="Seed of the user sample: same seed, same users.")
]
K = Annotated[int, typer.Option("--k", min=1, max=200, help="List length.")]
Surface = Annotated[str, typer.Option("--surface", help="Surface the lists are requested for.")]
Overrides = Annotated[
    str,
    typer.Option("--overrides", help='Knob overrides as a JSON object, e.g. {"mmr_lambda":0.5}.'),
]


@contextmanager
def _exits(base_url: str) -> Iterator[None]:
    """Bad input (a 4xx answer, an empty namespace, an unreachable server) exits 2 with the
    reason; a 5xx, always a server bug, exits 1."""
    import httpx

    from recsys.client import ApiCallError
    from recsys.toolkit.sampling import ToolInputError

    try:
        yield
    except ToolInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ApiCallError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if exc.status < 500 else 1) from exc
    except httpx.TransportError as exc:
        typer.echo(f"error: cannot reach {base_url}: {exc}", err=True)
        raise typer.Exit(2) from exc


def _json(text: str | None, flag: str) -> Any:
    """A flag's JSON value: inline JSON, or @file / a path to a JSON file."""
    from recsys.toolkit.sampling import ToolInputError

    if text is None:
        return None
    source = text
    candidate = Path(text[1:] if text.startswith("@") else text)
    if text.startswith("@") or (not text.lstrip().startswith(("{", "[")) and candidate.exists()):
        try:
            source = candidate.read_text()
        except OSError as exc:
            raise ToolInputError(f"{flag}: cannot read {candidate}: {exc}") from exc
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise ToolInputError(f"{flag}: not valid JSON ({exc})") from exc


def _object(text: str, flag: str) -> dict[str, Any]:
    from recsys.toolkit.sampling import ToolInputError

    value = _json(text, flag)
    if not isinstance(value, dict):
        raise ToolInputError(f"{flag} must be a JSON object")
    return value


def _finish(code: int, problems: list[str], folder: Path) -> None:
    for problem in problems:
        typer.echo(f"FAIL {problem}")
    typer.echo(f"evidence: {folder}")
    raise typer.Exit(code)


# --- simulate ---------------------------------------------------------------------------------


def simulate(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    users: Users = 50,
    steps: Annotated[int, typer.Option(min=1, help="Rounds of recommend -> click.")] = 5,
    seed: Seed = 2025,
    k: K = 10,
    surface: Surface = "home",
    segment: Annotated[
        str | None, typer.Option(help="Simulate users of this traits.segment only.")
    ] = None,
    batch: Annotated[
        bool, typer.Option("--batch", help="Several simulations: every seed x overrides set.")
    ] = False,
    seeds: Annotated[
        str | None, typer.Option(help="Batch: comma-separated seeds (default: --seed).")
    ] = None,
    overrides_json: Annotated[
        str | None,
        typer.Option(
            "--overrides-json",
            help="Knob overrides: a JSON object, or (batch) a list of objects; inline or @file.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do not push the simulated clicks.")
    ] = False,
    click_propensity: Annotated[
        float, typer.Option(help="Click probability at rank 1 for a perfectly liked item.")
    ] = 0.3,
    click_floor: Annotated[
        float, typer.Option(help="Attractiveness of an item the user has no affinity for.")
    ] = 0.05,
    step_pause_ms: Annotated[
        int, typer.Option(min=0, help="Pause after pushing a step's clicks (signal refresh).")
    ] = 250,
) -> None:
    """Simulate users clicking through recommendations: each sampled user asks for a list,
    clicks according to a preference model built from their own past events (category/tag
    affinity, cascade browsing, seeded), and the clicks go back as events
    (ids sim-<seed>-<user>-<step>). Reports CTR per configuration and per step."""
    from recsys.toolkit.sampling import ToolInputError, evidence_folder, write_evidence
    from recsys.toolkit.simulation import (
        ClickModel,
        configurations,
        ctr_table,
        parse_overrides_list,
    )
    from recsys.toolkit.simulation import simulate as run_simulation

    timestamp = now()
    with _exits(base_url):
        seed_list = ints(seeds) if seeds else [seed]
        override_sets = parse_overrides_list(_json(overrides_json, "--overrides-json") or {})
        if not batch and (len(seed_list) > 1 or len(override_sets) > 1):
            raise ToolInputError("several seeds or override sets need --batch")
        configs = configurations(seed_list, override_sets)
        model = ClickModel(propensity=click_propensity, floor=click_floor)
        with client(base_url, org_id, insecure) as api:
            report = run_simulation(
                api,
                namespace,
                configs,
                users=users,
                steps=steps,
                k=k,
                surface=surface or None,
                segment=segment,
                model=model,
                dry_run=dry_run,
                step_pause_s=step_pause_ms / 1000.0,
                clock=now,
            )
    report["mode"] = "batch" if batch else "single"
    folder = evidence_folder("simulate", namespace, timestamp)
    write_evidence(
        folder,
        {"simulation.json": report},
        script="run_simulation",
        now=timestamp,
        extra={"namespace": namespace, "mode": report["mode"], "seeds": seed_list},
    )
    typer.echo(
        f"{len(configs)} simulation(s), {users} users x {steps} steps, k={k}"
        + (" (dry run: no events pushed)" if dry_run else "")
    )
    for line in ctr_table(report["runs"]):
        typer.echo(line)
    pushed = [r["events"] for r in report["runs"]]
    if not dry_run:
        typer.echo(
            f"events pushed: {sum(p['events'] for p in pushed)} "
            f"(inserted {sum(p['inserted'] for p in pushed)}, "
            f"duplicates {sum(p['duplicates'] for p in pushed)})"
        )
    if len(report["runs"]) > 1:
        typer.echo(f"best CTR: run {report['best']}")
    _finish(0, [], folder)


# --- determinism ------------------------------------------------------------------------------


def determinism(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    users: Users = 10,
    repeats: Annotated[
        int, typer.Option(min=1, help="Identical sends, and as many key-shuffled sends.")
    ] = 5,
    seed: Seed = 42,
    k: K = 20,
    surface: Surface = "home",
    overrides: Overrides = "{}",
    explain_level: Annotated[
        str, typer.Option(help="none|tags|numeric|full: how much explanation to compare.")
    ] = "numeric",
    anonymous: Annotated[
        bool, typer.Option("--anonymous/--no-anonymous", help="Also check a request with no user.")
    ] = True,
    live: Annotated[
        bool,
        typer.Option(
            "--live", help="Do not pin the clock with context.as_of (rank at the server's now)."
        ),
    ] = False,
) -> None:
    """Send the same recommendation request --repeats times, and again with shuffled JSON key
    order; exit 1 if any response's items, scores, reasons, explanations or trace differ."""
    from recsys.clock import to_micros
    from recsys.offline.evaluate import iso
    from recsys.toolkit.determinism import check_determinism
    from recsys.toolkit.sampling import (
        ToolInputError,
        evidence_folder,
        sample_users,
        write_evidence,
    )

    timestamp = now()
    with _exits(base_url):
        if explain_level not in {"none", "tags", "numeric", "full"}:
            raise ToolInputError("--explain-level must be none, tags, numeric or full")
        knob_overrides = _object(overrides, "--overrides")
        with client(base_url, org_id, insecure) as api:
            sample = sample_users(api, namespace, users, seed=seed)
            user_ids: list[str | None] = [str(u["user_id"]) for u in sample]
            if anonymous:
                user_ids.append(None)
            report = check_determinism(
                api,
                namespace,
                user_ids,
                repeats=repeats,
                k=k,
                surface=surface or None,
                as_of=None if live else iso(to_micros(timestamp)),
                overrides=knob_overrides,
                explain_level=explain_level,
                seed=seed,
            )
    folder = evidence_folder("determinism", namespace, timestamp)
    write_evidence(
        folder,
        {"determinism.json": report},
        script="check_determinism",
        now=timestamp,
        extra={"namespace": namespace, "passed": report["passed"]},
    )
    typer.echo(
        f"{report['users']} request(s) x {2 * repeats} sends "
        f"({report['requests']} requests; clock "
        f"{'live' if live else 'pinned at ' + str(report['as_of'])})"
    )
    for case in report["cases"]:
        who = case["user_id"] or "(anonymous)"
        mark = "ok  " if case["identical"] else "DIFF"
        typer.echo(f"  {mark} {who:<24} {case['fingerprint']}  {len(case['items'])} items")
        for mismatch in case["mismatches"][:3]:
            typer.echo(f"       send {mismatch['attempt']} ({mismatch['kind']}):")
            for path in mismatch["paths"][:3]:
                typer.echo(f"         {path}")
    problems = [
        f"{len(report['nondeterministic_users'])} of {report['users']} requests "
        "gave different answers"
    ]
    _finish(0 if report["passed"] else 1, [] if report["passed"] else problems, folder)


# --- load -------------------------------------------------------------------------------------


def load(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Parallel workers.")] = 8,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run (default 10 without --requests).")
    ] = None,
    requests: Annotated[
        int | None, typer.Option(min=1, help="Total requests to send (stops early).")
    ] = None,
    users: Users = 100,
    seed: Seed = 42,
    k: K = 20,
    surface: Surface = "home",
    overrides: Overrides = "{}",
    timeout: Annotated[float, typer.Option(min=0.1, help="Per-request timeout, seconds.")] = 10.0,
    max_p99_ms: Annotated[
        float | None, typer.Option(help="Fail when the p99 latency exceeds this (ms).")
    ] = None,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a non-loopback host (only a server you run)."),
    ] = False,
) -> None:
    """Bounded load test of POST /v1/recommendations on your own server: --concurrency workers
    for --duration seconds or --requests requests. Reports req/s, p50/p90/p99 and errors;
    exit 1 on any error or a p99 above --max-p99-ms."""
    from dataclasses import replace

    from recsys.toolkit.loadtest import LoadPlan, load_verdict, run_load
    from recsys.toolkit.sampling import evidence_folder, sample_users, write_evidence

    timestamp = now()
    with _exits(base_url):
        knob_overrides = _object(overrides, "--overrides")
        plan = LoadPlan(
            base_url=base_url,
            org_id=org_id,
            namespace=namespace,
            user_ids=[None],  # the sample comes after the host check
            concurrency=concurrency,
            duration_s=duration if duration is not None or requests is not None else 10.0,
            requests=requests,
            k=k,
            surface=surface or None,
            overrides=knob_overrides,
            seed=seed,
            timeout_s=timeout,
            insecure=insecure,
        )
        plan.validate(allow_remote=allow_remote)
        with client(base_url, org_id, insecure) as api:
            sample = [str(u["user_id"]) for u in sample_users(api, namespace, users, seed=seed)]
            # One request first: a 4xx here (bad override, unknown field) is bad input, not load;
            # it also waits until the namespace's signals are built, so the load meets them.
            api.ranked("/v1/recommendations", plan.body(sample[0]))
        plan = replace(plan, user_ids=sample)
        report = run_load(plan)
    problems = load_verdict(report, max_p99_ms=max_p99_ms)
    report["max_p99_ms"] = max_p99_ms
    report["passed"] = not problems
    report["problems"] = problems
    folder = evidence_folder("load", namespace, timestamp)
    write_evidence(
        folder,
        {"load.json": report},
        script="recommendations_load",
        now=timestamp,
        extra={"namespace": namespace, "passed": not problems},
    )
    lat = report["latency_ms"]
    typer.echo(
        f"{report['requests']} requests in {report['elapsed_s']:.2f} s at concurrency "
        f"{concurrency}: {report['requests_per_s']:.1f} req/s, {report['errors']} errors"
    )
    typer.echo(
        "latency ms: "
        + "  ".join(
            f"{name} {lat[name]:.1f}" if lat[name] is not None else f"{name} -"
            for name in ("p50", "p90", "p99", "max")
        )
    )
    if report["errors"]:
        typer.echo(f"outcomes: {report['outcomes']}")
    _finish(1 if problems else 0, problems, folder)


# --- rules-check ------------------------------------------------------------------------------


def rules_check(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    users: Annotated[
        int, typer.Option(min=0, help="Sampled users per rule, besides an anonymous request.")
    ] = 10,
    seed: Seed = 42,
    k: K = 20,
    depth: Annotated[
        int, typer.Option(min=1, max=200, help="List length fetched to compare ranks.")
    ] = 100,
    surface: Surface = "home",
) -> None:
    """Check every enabled rule against live rankings on its surface: BLOCK -> no matching
    item; PIN -> its item at its position (when pinnable); BOOST -> present or ranked better
    than with rules_enable=false. Exit 1 on any violation."""
    from recsys.toolkit.rules_check import check_rules, probe_users
    from recsys.toolkit.sampling import all_users, evidence_folder, fetch_catalogue, write_evidence

    timestamp = now()
    with _exits(base_url), client(base_url, org_id, insecure) as api:
        rules = api.list_all("/v1/admin/rules", "rules", namespace=namespace)
        catalogue = fetch_catalogue(api, namespace)
        enabled = [r for r in rules if r.get("enabled", True)]
        probes = probe_users(all_users(api, namespace), enabled, n=users, seed=seed)
        report = check_rules(
            api,
            namespace,
            rules,
            catalogue,
            probes,
            default_surface=surface,
            k=k,
            depth=depth,
            now=timestamp,
        )
    folder = evidence_folder("rules_check", namespace, timestamp)
    write_evidence(
        folder,
        {"rules_check.json": report},
        script="test_rules",
        now=timestamp,
        extra={"namespace": namespace, "passed": report["passed"]},
    )
    if report.get("warning"):
        typer.echo(f"warning: {report['warning']}")
    if not report["rules"]:
        typer.echo(f"namespace {namespace!r} has no enabled rules: nothing to check")
    else:
        typer.echo(f"{'status':<15}{'action':<7}{'target':<30}{'surface':<10}rule")
    for rule in report["rules"]:
        key = rule["target"]["key"] or ",".join(rule["target"]["item_ids"])
        target = f"{rule['target']['type']}:{key}"
        typer.echo(
            f"{rule['status']:<15}{rule['action']:<7}{target[:29]:<30}{rule['surface']:<10}"
            f"{rule['name']} ({rule['rule_id']}): {rule['note']}"
        )
    summary = report["summary"]
    counts = ", ".join(f"{n} {status}" for status, n in summary.items() if n) or "none"
    typer.echo(f"{len(report['rules'])} rule(s): {counts}; {report['requests']} requests")
    problems = [
        f"rule {r['rule_id']} ({r['action']}): {r['note']}"
        for r in report["rules"]
        if r["status"] == "violation"
    ]
    _finish(1 if problems else 0, problems, folder)


# --- exposure ---------------------------------------------------------------------------------


def exposure(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    users: Users = 200,
    seed: Seed = 42,
    k: K = 10,
    surfaces: Annotated[str, typer.Option(help="Comma-separated surfaces.")] = "home",
    overrides: Overrides = "{}",
    top: Annotated[int, typer.Option(min=1, help="Most exposed items to list.")] = 10,
    max_gini: Annotated[
        float | None, typer.Option(help="Fail when the item-exposure Gini exceeds this.")
    ] = None,
    min_catalog_share: Annotated[
        float | None, typer.Option(help="Fail when a smaller share of the catalogue is shown.")
    ] = None,
) -> None:
    """How often each item, brand and category appears in the top k over a user sample and
    surfaces: Gini of item exposure, share of the catalogue exposed, top items; writes
    exposure.json and exposure.png."""
    from recsys.toolkit.exposure import exposure_chart, exposure_report, exposure_verdict
    from recsys.toolkit.sampling import (
        ToolInputError,
        evidence_folder,
        fetch_catalogue,
        rank_sample,
        sample_users,
        split_list,
        write_evidence,
    )

    timestamp = now()
    with _exits(base_url):
        surface_list = split_list(surfaces)
        if not surface_list:
            raise ToolInputError("--surfaces must name at least one surface")
        knob_overrides = _object(overrides, "--overrides")
        with client(base_url, org_id, insecure) as api:
            catalogue = fetch_catalogue(api, namespace)
            sample = sample_users(api, namespace, users, seed=seed)
            lists = rank_sample(
                api, namespace, sample, surfaces=surface_list, k=k, overrides=knob_overrides
            )
    report = exposure_report(lists, catalogue, namespace=namespace, k=k, top=top)
    problems = exposure_verdict(report, max_gini=max_gini, min_catalogue_share=min_catalog_share)
    report.update(
        seed=seed,
        overrides=knob_overrides,
        thresholds={"max_gini": max_gini, "min_catalog_share": min_catalog_share},
        problems=problems,
        passed=not problems,
    )
    folder = evidence_folder("exposure", namespace, timestamp)
    exposure_chart(report, folder / "exposure.png")
    write_evidence(
        folder,
        {"exposure.json": report},
        script="exposure_dashboard",
        now=timestamp,
        extra={"namespace": namespace, "passed": not problems},
    )
    overall = report["overall"]
    typer.echo(
        f"{overall['lists']} lists ({report['users']} users x {len(surface_list)} surface(s)), "
        f"top {k}: {overall['distinct_items']} of {overall['catalogue_items']} items shown "
        f"({overall['catalogue_share_exposed']:.1%}), Gini {overall['gini_item_exposure']:.3f}"
    )
    typer.echo(f"{'item':<24}{'count':>7}{'share':>9}")
    for item in overall["top_items"]:
        typer.echo(f"{item['id']:<24}{item['count']:>7}{item['share']:>9.2%}")
    typer.echo(
        "top categories: "
        + ", ".join(f"{c['id']} {c['share']:.1%}" for c in overall["categories"][:5])
    )
    typer.echo(
        "top brands: " + ", ".join(f"{b['id']} {b['share']:.1%}" for b in overall["brands"][:5])
    )
    _finish(1 if problems else 0, problems, folder)


# --- profile-coverage -------------------------------------------------------------------------


def profile_coverage(
    base_url: BaseUrl = "http://localhost:8000",
    org_id: OrgId = "00000000-0000-0000-0000-000000000001",
    namespace: Namespace = "demo",
    insecure: Insecure = False,
    users: Users = 300,
    seed: Seed = 42,
    k: K = 10,
    surface: Surface = "home",
    overrides: Overrides = "{}",
    min_personalised_share: Annotated[
        float | None, typer.Option(help="Fail below this share of personalised lists.")
    ] = None,
    min_starter_share: Annotated[
        float | None, typer.Option(help="Fail below this share of cold users with a starter.")
    ] = None,
    min_avg_categories: Annotated[
        float | None, typer.Option(help="Fail below this mean of distinct categories per list.")
    ] = None,
) -> None:
    """For a user sample: share who get a personalised list (event_count >=
    PROFILE_MIN_EVENTS_FOR_BOOST), share of cold users served by a starter profile, distinct
    categories per list; overall and per segment."""
    from recsys.toolkit.profile_coverage import coverage_report, coverage_verdict
    from recsys.toolkit.sampling import (
        evidence_folder,
        fetch_catalogue,
        rank_sample,
        sample_users,
        write_evidence,
    )

    timestamp = now()
    with _exits(base_url):
        knob_overrides = _object(overrides, "--overrides")
        with client(base_url, org_id, insecure) as api:
            config = api.config(namespace)["config"]
            threshold = int(
                knob_overrides.get(
                    "profile_min_events_for_boost", config["profile_min_events_for_boost"]
                )
            )
            catalogue = fetch_catalogue(api, namespace)
            sample = sample_users(api, namespace, users, seed=seed)
            # The coverage report reads each answer's trace (user and starter profile): asked
            # with an explanation, the only way the trace is sent.
            lists = rank_sample(
                api,
                namespace,
                sample,
                surfaces=[surface or None],
                k=k,
                overrides=knob_overrides,
                explain_level="numeric",
            )
    report = coverage_report(lists, catalogue, namespace=namespace, threshold=threshold, k=k)
    problems = coverage_verdict(
        report,
        min_personalised_share=min_personalised_share,
        min_starter_share=min_starter_share,
        min_avg_categories=min_avg_categories,
    )
    report.update(
        surface=surface,
        seed=seed,
        overrides=knob_overrides,
        config_version=lists[0].response.get("config_version") if lists else None,
        problems=problems,
        passed=not problems,
    )
    folder = evidence_folder("profile_coverage", namespace, timestamp)
    write_evidence(
        folder,
        {"profile_coverage.json": report},
        script="profile_coverage",
        now=timestamp,
        extra={"namespace": namespace, "passed": not problems},
    )
    typer.echo(f"PROFILE_MIN_EVENTS_FOR_BOOST = {threshold}; top {k} on {surface!r}")
    typer.echo(
        f"{'segment':<22}{'users':>6}{'personal':>10}{'cold':>6}{'starter':>9}"
        f"{'avg cats':>10}{'avg events':>12}"
    )
    rows = [*report["per_segment"].items(), ("ALL", report["overall"])]
    for name, s in rows:
        starter = "-" if s["cold_starter_share"] is None else f"{s['cold_starter_share']:.1%}"
        categories, events = s["avg_distinct_categories"] or 0.0, s["avg_event_count"] or 0.0
        typer.echo(
            f"{name:<22}{s['users']:>6}{s['personalised_share']:>10.1%}{s['cold']:>6}"
            f"{starter:>9}{categories:>10.2f}{events:>12.1f}"
        )
    _finish(1 if problems else 0, problems, folder)


__all__ = ["determinism", "exposure", "load", "profile_coverage", "rules_check", "simulate"]
