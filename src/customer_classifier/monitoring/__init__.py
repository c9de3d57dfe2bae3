"""Nightly monitoring of the champion: data drift against its training reference, the
precision estimated before the labels mature, and backtesting once they have. Pure
functions over frames; adapters live with the jobs."""
