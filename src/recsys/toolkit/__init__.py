"""The playbook toolkit: reset, seed, profiles, quality evaluation, scenarios, tuning,
optimisation, guardrails and evidence. `recsys <verb>` and `analysis/scripts/*.py` call it."""
