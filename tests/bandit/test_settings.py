"""BANDIT_* settings: defaults, parsing and clear errors."""

from __future__ import annotations

import pytest

from recsys.config.settings import Settings, SettingsError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.bandit_algo == "thompson"
    assert settings.bandit_experiment_enabled is False
    assert settings.bandit_experiment_holdout_percent == 10.0
    assert settings.bandit_experiment_surfaces == ()
    assert settings.bandit_experiment_label == "holdout"


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "BANDIT_ALGO": " UCB1 ",
            "BANDIT_EXPERIMENT_ENABLED": "true",
            "BANDIT_EXPERIMENT_HOLDOUT_PERCENT": "25.5",
            "BANDIT_EXPERIMENT_SURFACES": "pdp, home,,home ",
            "BANDIT_EXPERIMENT_LABEL": "q4-holdout",
        }
    )
    assert settings.bandit_algo == "ucb1"
    assert settings.bandit_experiment_enabled is True
    assert settings.bandit_experiment_holdout_percent == 25.5
    assert settings.bandit_experiment_surfaces == ("home", "pdp")
    assert settings.bandit_experiment_label == "q4-holdout"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BANDIT_ALGO", "epsilon_greedy", "BANDIT_ALGO must be one of thompson, ucb1"),
        ("BANDIT_EXPERIMENT_ENABLED", "maybe", "BANDIT_EXPERIMENT_ENABLED must be true or false"),
        ("BANDIT_EXPERIMENT_HOLDOUT_PERCENT", "101", "between 0 and 100"),
        ("BANDIT_EXPERIMENT_HOLDOUT_PERCENT", "-5", "BANDIT_EXPERIMENT_HOLDOUT_PERCENT"),
        ("BANDIT_EXPERIMENT_HOLDOUT_PERCENT", "nan", "between 0 and 100"),
        ("BANDIT_EXPERIMENT_HOLDOUT_PERCENT", "ten", "must be a number"),
        ("BANDIT_EXPERIMENT_SURFACES", "home," + "x" * 65, "exceeds 64 characters"),
        ("BANDIT_EXPERIMENT_LABEL", "y" * 65, "BANDIT_EXPERIMENT_LABEL must be 1-64"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({name: value})
