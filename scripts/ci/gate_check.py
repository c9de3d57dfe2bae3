"""Fail the pipeline when the gate did not promote the challenger of the test environment.

The training run in ``ml-test`` registers its model as ``challenger`` and runs the gate on
the test environment's data; the gate moves ``champion`` only when every blocking check
passes. This reads both aliases from the environment's store (``CC_STORE_URI``,
``CC_S3__*``), prints the two versions' test-window metrics side by side, and exits 1 when
``champion`` is not the challenger: promotion to prod needs a model that passed. With
``--expect VERSION`` the challenger must also be that version (the one this run trained).
On a pass, ``--dotenv FILE`` gets ``ROLLOUT_VERSION=<version>``, the version deploy-prod
rolls out. Exit 2 for a settings mistake (no store, no champion).

    python scripts/ci/gate_check.py [--expect VERSION] [--dotenv build/gate.env]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from customer_classifier.entrypoint import exit_on_user_error
from customer_classifier.registry import open_store
from customer_classifier.registry.ops import compare
from customer_classifier.settings import load_settings


def verdict(champion: str | None, challenger: str | None, expect: str | None) -> list[str]:
    """Why the gate's outcome does not allow promotion; empty when it does."""
    if challenger is None:
        return ["no challenger alias: the training run registered no model"]
    found = []
    if expect is not None and challenger != expect:
        found.append(f"the challenger is {challenger}, not {expect} (another run moved it)")
    if champion != challenger:
        found.append(
            f"the gate kept champion {champion} and did not promote challenger {challenger}; "
            "its decision (decision.md of the register task) says which check failed"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect", default=None, help="Version the challenger must be.")
    parser.add_argument(
        "--dotenv", type=Path, default=None, help="Write ROLLOUT_VERSION=... here on a pass."
    )
    args = parser.parse_args(argv)
    with exit_on_user_error():
        settings = load_settings()
        store = open_store(settings.store_uri, settings.s3)
        champion, challenger = store.get_alias("champion"), store.get_alias("challenger")
        rows = []
        if champion and challenger:
            rows = [
                {"metric": name, "champion": a, "challenger": b}
                for name, a, b in compare(store, champion, challenger).rows
            ]
    found = verdict(champion, challenger, args.expect)
    report = {"champion": champion, "challenger": challenger, "metrics": rows, "problems": found}
    print(json.dumps(report, indent=2))
    for problem in found:
        print(f"gate_check: {problem}", file=sys.stderr)
    if not found and args.dotenv is not None:
        args.dotenv.parent.mkdir(parents=True, exist_ok=True)
        args.dotenv.write_text(f"ROLLOUT_VERSION={challenger}\n", encoding="utf-8")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
