"""Metric-gated canary rollout of a registry version on KServe."""
