"""Metrics, the decision threshold, and the evaluation report."""
