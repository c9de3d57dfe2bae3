"""Nightly monitoring: drift, estimated precision, backtesting."""
