"""The logic layer: what a request does between its body (schemas/) and its handler (routes/):
building ranking requests and answers, observing decisions, the bandit's decide/reward steps,
control-plane validation. No FastAPI routing here; handlers stay thin."""
