"""Input data: the contract, a synthetic generator, profiling, verification and ingest."""
