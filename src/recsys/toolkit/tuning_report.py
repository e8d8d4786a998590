"""What a tuning run folder shows people: two charts, report.md, and report.html — the same
report self-contained (charts inline), for a browser or an attachment.

Charts: the trade-off between NDCG lift and catalogue coverage (the Pareto set in red; runs
that land on the same point share one label), and each run's NDCG@10 lift over popularity with
its 95% paired bootstrap interval, on an integer run axis."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

Run = Mapping[str, Any]


def coinciding_labels(
    points: Sequence[tuple[int, float, float]], *, digits: int = 3
) -> list[tuple[str, float, float]]:
    """One label per distinct point: (runs joined by commas, x, y), runs that land on the same
    point (to `digits` decimals) together, so that their numbers are not printed on top of each
    other."""
    groups: dict[tuple[float, float], list[int]] = {}
    for run, x, y in points:
        groups.setdefault((round(x, digits), round(y, digits)), []).append(run)
    return [(", ".join(map(str, sorted(runs))), x, y) for (x, y), runs in groups.items()]


def tradeoff_chart(runs: Sequence[Run], summary: Mapping[str, Any]) -> Figure:
    pareto = set(summary["pareto"])
    fig = Figure(figsize=(7, 5))
    ax = fig.subplots()
    points = [
        (r["run"], r["objectives"]["catalog_coverage"], r["objectives"]["ndcg_lift"]) for r in runs
    ]
    ax.scatter(
        [x for _, x, _ in points],
        [y for _, _, y in points],
        c=["tab:red" if run in pareto else "tab:blue" for run, _, _ in points],
    )
    on_front = [p for p in points if p[0] in pareto]
    for n, (label, x, y) in enumerate(coinciding_labels(on_front)):
        # Alternate the side: neighbouring points of the front get their labels apart.
        offset = (5, 5) if n % 2 == 0 else (5, -12)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=offset, fontsize=8)
    ax.set_xlabel("catalog coverage (top 10)")
    ax.set_ylabel("validation NDCG@10 lift over popularity (relative)")
    ax.set_title(f"{summary['namespace']}: runs on the validation window (red = Pareto set)")
    fig.tight_layout()
    return fig


def lift_chart(runs: Sequence[Run]) -> Figure:
    """Each run's absolute NDCG@10 lift over popularity on the validation window, with its 95%
    paired bootstrap interval (the same users, so the interval is the difference's)."""
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(max(6.0, len(runs) * 0.12), 4))
    ax = fig.subplots()
    numbers = [r["run"] for r in runs]
    lifts = [r["lift"]["ndcg@10"]["absolute"] for r in runs]
    below = [
        max(0.0, v - r["lift"]["ndcg@10"]["ci95_low"]) for v, r in zip(lifts, runs, strict=True)
    ]
    above = [
        max(0.0, r["lift"]["ndcg@10"]["ci95_high"] - v) for v, r in zip(lifts, runs, strict=True)
    ]
    ax.errorbar(numbers, lifts, yerr=[below, above], fmt="o", capsize=3, label="lift, 95% interval")
    ax.axhline(0.0, color="grey", linestyle="--", label="popularity baseline")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("run")
    ax.set_ylabel("validation NDCG@10 lift (absolute)")
    ax.legend()
    fig.tight_layout()
    return fig


def write_charts(folder: Path, runs: Sequence[Run], summary: Mapping[str, Any]) -> None:
    tradeoff_chart(runs, summary).savefig(folder / "tradeoff.png", dpi=100)
    lift_chart(runs).savefig(folder / "ndcg_by_run.png", dpi=100)


def _fmt(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return "" if value is None else str(value)


def report_markdown(
    summary: Mapping[str, Any], runs: Sequence[Run], parameters: Sequence[str]
) -> str:
    windows, chosen = summary["windows"], summary["chosen"]
    test = chosen["test"]
    lift = test["lift"]["ndcg@10"]
    lines = [
        f"# Tuning report: {summary['namespace']}",
        "",
        f"- Created: {summary['created_at']} ({summary['seconds']} s, "
        f"engine `{summary['engine']}`)",
        f"- Segment: {summary['segment'] or 'all users'}",
        f"- Windows: train until {windows['train']['until']}; validation until "
        f"{windows['validation']['until']} ({windows['validation']['users']} users); test after "
        f"that ({windows['test']['users']} users)",
        f"- Runs: {len(runs)}; passed guardrails on validation: {summary['passed']}; "
        f"failed: {summary['failed']}",
        f"- Command: `{summary['command']}`",
        "",
        "## Chosen configuration, scored on the test window",
        "",
        f"Run {chosen['run']}, chosen by validation `{chosen['chosen_by']}` among the runs that "
        "passed the guardrails on validation; the test window was used for nothing else.",
        "",
        "| figure | validation | test |",
        "|---|---|---|",
        *(
            f"| {name} | {chosen['validation'][name]:.4f} | {test['objectives'][name]:.4f} |"
            for name in chosen["validation"]
        ),
        "",
        f"Test-window NDCG@10 {test['metrics']['ndcg@10']:.4f} against popularity "
        f"{test['baseline']['ndcg@10']:.4f}: lift {lift['absolute']:+.4f} "
        f"(95% CI {lift['ci95_low']:+.4f} to {lift['ci95_high']:+.4f}, paired on "
        f"{test['users']} users). Guardrails on test: "
        f"{'pass' if test['guardrails']['passed'] else 'FAIL'}.",
        "",
        "## Best runs on the validation window",
        "",
        "| objective | run | value |",
        "|---|---|---|",
    ]
    by_run = {r["run"]: r for r in runs}
    for objective, run in summary["best"].items():
        lines.append(f"| {objective} | {run} | {by_run[run]['objectives'][objective]:.4f} |")
    lines += [
        "",
        f"Pareto set (NDCG lift vs coverage): {summary['pareto']}",
        "",
        "![trade-off](tradeoff.png)",
        "",
        "![NDCG lift by run](ndcg_by_run.png)",
        "",
        "## All runs (validation window)",
        "",
        "| run | " + " | ".join(parameters) + " | ndcg@10 | lift | coverage | "
        "long tail | guardrails |",
        "|" + "---|" * (len(parameters) + 6),
    ]
    for r in runs:
        params = " | ".join(f"{r['parameters'].get(k, '')}" for k in parameters)
        o = r["objectives"]
        lines.append(
            f"| {r['run']} | {params} | {r['metrics']['ndcg@10']:.4f} | {o['ndcg_lift']:.3f} | "
            f"{o['catalog_coverage']:.3f} | {o['long_tail_share']:.3f} | "
            f"{'pass' if r['guardrails']['passed'] else 'FAIL'} |"
        )
    return "\n".join(lines) + "\n"


def _png(figure: Figure) -> str:
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode()


def report_html(summary: Mapping[str, Any], runs: Sequence[Run], parameters: Sequence[str]) -> str:
    """The report as one HTML file: nothing linked, charts inline, values escaped."""
    import jinja2

    source = (resources.files("recsys.toolkit") / "templates" / "tuning_report.html").read_text()
    template = jinja2.Environment(autoescape=True).from_string(source)
    by_run = {r["run"]: r for r in runs}
    chosen = summary["chosen"]
    return template.render(
        s=summary,
        runs=runs,
        chosen=chosen,
        chosen_run=by_run[chosen["run"]],
        by_run=by_run,
        lift=chosen["test"]["lift"]["ndcg@10"],
        parameters=list(parameters),
        fmt=_fmt,
        tradeoff=_png(tradeoff_chart(runs, summary)),
        lifts=_png(lift_chart(runs)),
    )


def write_report(
    folder: Path, summary: Mapping[str, Any], runs: Sequence[Run], parameters: Sequence[str]
) -> None:
    write_charts(folder, runs, summary)
    (folder / "report.md").write_text(report_markdown(summary, runs, parameters))
    (folder / "report.html").write_text(report_html(summary, runs, parameters))


__all__ = [
    "coinciding_labels",
    "lift_chart",
    "report_html",
    "report_markdown",
    "tradeoff_chart",
    "write_report",
]
