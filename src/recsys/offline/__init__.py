"""Offline toolkit: datasets, splits, metrics, evaluation, tuning and evidence."""
