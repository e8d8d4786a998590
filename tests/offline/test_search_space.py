"""One search space, from the knob catalogue: every tunable knob (all four blend weights
included) is searchable by `recsys tune` and `recsys optimize`, on its scale, and their --help
shows the ranges and defaults of docs/env_reference.md."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.cli.tuning import _sweep_values
from recsys.config.knobs import KNOBS_BY_KEY, TUNABLE, defaults
from recsys.offline.search_space import OBJECTIVES, SearchSpace, catalogue_ranges
from recsys.toolkit.tuning import PARAMETERS

ROOT = Path(__file__).resolve().parents[2]
BLEND = ("blend_alpha", "blend_beta", "blend_gamma", "blend_delta")


def documented_space() -> dict[str, dict[str, str]]:
    """The search-space table of docs/env_reference.md, by override key."""
    text = (ROOT / "docs" / "env_reference.md").read_text()
    table = text.split("## Tuning search space", 1)[1]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] in KNOBS_BY_KEY:
            key, default, span, scale, sweep, ranged = cells
            rows[key] = {"default": default, "range": span, "scale": scale, "sweep": sweep}
            rows[key]["range_option"] = ranged
    return rows


def help_text(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    # One line per option: the help wraps its descriptions onto indented continuation lines.
    return re.sub(r"\n {10,}(?=\S)", " ", result.output)


def test_every_blend_weight_is_tunable() -> None:
    assert set(BLEND) <= {knob.key for knob in TUNABLE}
    assert set(BLEND) <= set(PARAMETERS.values())
    assert set(BLEND) <= set(catalogue_ranges())
    assert PARAMETERS["deltas"] == "blend_delta"


def test_the_docs_list_exactly_the_catalogues_search_space() -> None:
    assert list(documented_space()) == [knob.key for knob in TUNABLE]


def test_tune_help_shows_each_knobs_option_default_and_range() -> None:
    text = help_text("tune")
    for row in documented_space().values():
        line = next(line for line in text.splitlines() if f"{row['sweep']} " in line)
        low, high = row["range"].split(" to ")
        assert f"(default {row['default']};" in line, line
        assert f"search range {low} to {high}, {row['scale']} scale" in line, line


def test_optimize_help_defaults_are_the_documented_search_ranges() -> None:
    text = help_text("optimize")
    for key, row in documented_space().items():
        line = next(line for line in text.splitlines() if f"{row['range_option']} " in line)
        shown = re.search(r"\[default: ([^,\]]+), ([^\]]+)\]", line)
        assert shown is not None, line
        assert [float(v) for v in shown.groups()] == [
            float(v) for v in row["range"].split(" to ")
        ], key
        assert f"({row['scale']} scale)" in line
    assert all(objective in text for objective in OBJECTIVES)


def test_sweep_values_parse_by_the_knobs_kind() -> None:
    values = _sweep_values(
        {"blend_delta": "0.3,0.5", "popularity_fanout": "100,250", "mmr_lambda": None}
    )
    assert values == {"blend_delta": [0.3, 0.5], "popularity_fanout": [100, 250]}
    assert all(isinstance(v, int) for v in values["popularity_fanout"])


def test_log_scale_knobs_are_searched_by_ratio() -> None:
    space = SearchSpace({"popularity_fanout": (100, 1600), "blend_alpha": (0.0, 1.0)})
    middle = space.values(np.array([[0.5, 0.5]]))[0]
    assert middle.tolist() == [400.0, 0.5]  # geometric middle of 100..1600, arithmetic of 0..1
    located = space.locate({"popularity_fanout": 400, "blend_alpha": 0.25})
    assert located is not None and np.allclose(located, [0.5, 0.25])
    assert space.locate({"popularity_fanout": 0, "blend_alpha": 0.25}) is None


def test_search_ranges_are_valid_knob_values_around_the_default() -> None:
    for knob in TUNABLE:
        assert knob.search is not None
        knob.parse(knob.search.low)
        knob.parse(knob.search.high)
        assert knob.search.low <= defaults()[knob.key] <= knob.search.high, knob.key


@pytest.mark.parametrize("flag", ["--deltas", "--item-model-l2s"])
def test_tune_accepts_the_new_sweep_options(flag: str) -> None:
    result = CliRunner().invoke(app, ["tune", flag, "300,1000", "--engine", "nope"])
    assert result.exit_code == 2  # parsed as an option: the bad engine is what is refused
    assert "--engine must be local or http" in result.output


def test_the_http_engine_refuses_to_sweep_a_namespace_setting() -> None:
    result = CliRunner().invoke(
        app, ["tune", "--engine", "http", "--item-model-l2s", "100,300", "--base-url", "http://x"]
    )
    assert result.exit_code == 2
    assert "item_model_l2: a namespace setting" in result.output
