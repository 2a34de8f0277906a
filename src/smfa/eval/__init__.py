"""Evaluation: probes that run a model once, and metrics (small pure functions) that score them."""
