"""`recsys bandit-simulate`: the server's bandit algorithms against simulated arms, in process.

Writes `bandit_simulation.json` (cumulative regret per round for each algorithm) and
`bandit_regret.png` (regret over time) to --output-dir; exits 2 on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recsys.cli.common import floats

if TYPE_CHECKING:
    from recsys.bandit import Algorithm
    from recsys.bandit.simulation import SimulationRun

JSON_NAME = "bandit_simulation.json"
CHART_NAME = "bandit_regret.png"


def _document(
    runs: Mapping[Algorithm, SimulationRun], *, payoffs: list[float], rounds: int, seed: int
) -> dict[str, Any]:
    half = rounds // 2
    out: dict[str, Any] = {
        "rounds": rounds,
        "payoffs": payoffs,
        "seed": seed,
        "best_arm": max(range(len(payoffs)), key=lambda i: (payoffs[i], -i)),
        "regret": "expected regret: best payoff minus the chosen arm's payoff, summed",
        "algorithms": {},
    }
    for name, run in runs.items():
        out["algorithms"][name] = {
            "pulls": run.pulls,
            "total_reward": float(run.rewards.sum()),
            "final_regret": round(float(run.cumulative_regret[-1]), 6),
            "regret_first_half": round(run.regret_between(1, half), 6) if half else 0.0,
            "regret_second_half": round(run.regret_between(half + 1, rounds), 6),
            "cumulative_regret": [round(float(r), 6) for r in run.cumulative_regret],
        }
    return out


def _chart(path: Path, runs: Mapping[Algorithm, SimulationRun], payoffs: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, run in runs.items():
        rounds = range(1, len(run.cumulative_regret) + 1)
        ax.plot(rounds, run.cumulative_regret, label=name)
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative expected regret")
    ax.set_title(f"Bandit regret, Bernoulli arms {', '.join(f'{p:g}' for p in payoffs)}")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def simulate(
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, max=1_000_000, help="Decisions per algorithm.")
    ] = 1000,
    payoffs: Annotated[
        str,
        typer.Option("--payoffs", help="Comma-separated reward probabilities, one per arm."),
    ] = "0.2,0.5,0.8",
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same run.")] = 7,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where the JSON and the chart go.")
    ] = Path("analysis/evidence/bandit_simulation"),
) -> None:
    """Run Thompson sampling and UCB1 (the server's own functions) against Bernoulli arms and
    chart their cumulative regret."""
    from recsys.bandit.simulation import simulate_all

    arms = floats(payoffs)
    if len(arms) < 2 or not all(0.0 <= p <= 1.0 for p in arms):
        raise typer.BadParameter(
            "give at least two probabilities in [0, 1], e.g. 0.2,0.5,0.8", param_hint="--payoffs"
        )
    runs = simulate_all(arms, rounds, seed)
    document = _document(runs, payoffs=arms, rounds=rounds, seed=seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / JSON_NAME).write_text(json.dumps(document, indent=2) + "\n")
    _chart(output_dir / CHART_NAME, runs, arms)
    for name, summary in document["algorithms"].items():
        typer.echo(
            f"{name:9} pulls {summary['pulls']}  regret {summary['final_regret']:.1f} "
            f"(first half {summary['regret_first_half']:.1f}, "
            f"second half {summary['regret_second_half']:.1f})"
        )
    typer.echo(f"wrote {output_dir / JSON_NAME} and {output_dir / CHART_NAME}")


__all__ = ["simulate"]
