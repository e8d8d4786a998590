"""The knob catalogue: one definition per knob, validation, env loading, the generated docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli.main import app
from recsys.config.knobs import (
    KNOBS,
    KnobError,
    defaults,
    from_env,
    parse_overrides,
    reference_markdown,
)
from recsys.config.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def test_the_blend_and_factor_defaults_are_the_ones_chosen_on_validation() -> None:
    """bench/defaults.py picks them on validation folds only; the catalogue ships its choice."""
    from recsys.signals.user_factors import fit_user_factors

    study = json.loads((ROOT / "bench" / "results" / "defaults.json").read_text())
    assert study["defaults"] and all(defaults()[k] == v for k, v in study["defaults"].items())
    assert fit_user_factors.__kwdefaults__ == {"iterations": study["user_factor_iterations"]}


def test_env_reference_is_generated_from_the_catalogue() -> None:
    committed = (ROOT / "docs" / "env_reference.md").read_text()
    assert committed == reference_markdown(), (
        "run: .venv/bin/recsys knobs --markdown > docs/env_reference.md"
    )
    assert CliRunner().invoke(app, ["knobs", "--markdown"]).output == committed


def test_each_knob_is_defined_once_with_a_lower_case_override_key() -> None:
    names = [k.name for k in KNOBS]
    assert len(names) == len(set(names))
    for knob in KNOBS:
        assert knob.key == knob.name.lower()
        assert knob.parse(knob.default) == knob.default or knob.kind in {"int_list"}
        assert knob.description


def test_defaults_validate_and_resolve() -> None:
    values = defaults()
    assert values["mmr_lambda"] == 0.7 and values["exclude_event_types"] == (3,)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"mmr_lambda": 1.01}, "mmr_lambda"),
        ({"mmr_lambda": -0.1}, "mmr_lambda"),
        ({"popularity_fanout": 2.5}, "popularity_fanout"),
        ({"popularity_fanout": True}, "popularity_fanout"),
        ({"rule_exclude_events": "maybe"}, "rule_exclude_events"),
        ({"exclude_event_types": [7]}, "exclude_event_types"),
        ({"mmr_presets": {"home": 2}}, "mmr_presets"),
        ({"mmr_presets": "not json"}, "mmr_presets"),
        ({"profile_starter_presets": {"seg": {"books": -1}}}, "profile_starter_presets"),
        ({"blend_alpha": float("nan")}, "blend_alpha"),
        ({"MMR_LAMBDA": 0.5}, "MMR_LAMBDA"),
    ],
)
def test_bad_values_name_the_knob(raw: dict, key: str) -> None:
    with pytest.raises(KnobError) as info:
        parse_overrides(raw)
    assert key in info.value.errors


def test_every_bad_key_is_reported_at_once() -> None:
    with pytest.raises(KnobError) as info:
        parse_overrides({"mmr_lambda": 5, "brand_cap": -1, "nope": 1})
    assert set(info.value.errors) == {"mmr_lambda", "brand_cap", "nope"}


def test_environment_sets_defaults() -> None:
    values = from_env(
        {"MMR_LAMBDA": "0.4", "EXCLUDE_EVENT_TYPES": "2,3", "MMR_PRESETS": '{"pdp": 0.9}'}
    )
    assert values["mmr_lambda"] == 0.4
    assert values["exclude_event_types"] == (2, 3)
    assert values["mmr_presets"] == {"pdp": 0.9}
    assert Settings.from_env({"BRAND_CAP": "2"}).knobs["brand_cap"] == 2
    with pytest.raises(SettingsError, match="MMR_LAMBDA"):
        Settings.from_env({"MMR_LAMBDA": "7"})
