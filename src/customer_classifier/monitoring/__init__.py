"""Nightly monitoring of the champion: data drift against its training reference, and
the checks that build on it. Pure functions over frames; adapters live with the jobs."""
