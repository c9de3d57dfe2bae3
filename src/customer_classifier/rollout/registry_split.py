"""The predictor's own sticky split, moved through the model registry.

In ``predictor`` mode one InferenceService serves the whole model store: its predictors
answer with the ``champion`` and, for the customers in the canary's share, the challenger
named by the ``canary`` alias (``CC_SERVING__CHALLENGER=canary``,
``CC_SERVING__CHALLENGER_MODE=canary``). The share itself is the store's
``traffic_split.json`` state, which every replica re-reads on its reload check, so moving
it needs no restart and no write to the cluster. A replica applies the share only to the
version the split names: a stale split never sends traffic to another model.
"""

from __future__ import annotations

import json
from typing import Any

from customer_classifier.errors import ConfigurationError
from customer_classifier.registry.store import TRAFFIC_SPLIT_STATE, ModelStore
from customer_classifier.rollout.analysis import RolloutState
from customer_classifier.rollout.state import state_from_json, state_to_json

SPLIT_STATE = TRAFFIC_SPLIT_STATE
ROLLOUT_STATE = "rollout.json"


def read_split(store: ModelStore) -> dict[str, Any] | None:
    """``{"challenger": VERSION, "canary_percent": P}``, or None when no split is set."""
    raw = store.read_state(SPLIT_STATE)
    if raw is None:
        return None
    split: dict[str, Any] = json.loads(raw)
    return split


class RegistryTrafficSplit:
    def __init__(self, store: ModelStore, champion_alias: str = "champion") -> None:
        self.store = store
        self.champion_alias = champion_alias

    def _write(self, version: str, percent: int) -> None:
        body = json.dumps({"challenger": version, "canary_percent": percent}, sort_keys=True)
        self.store.write_state(SPLIT_STATE, body.encode())

    def stable_version(self) -> str:
        version = self.store.get_alias(self.champion_alias)
        if version is None:
            raise ConfigurationError(
                f"the store {self.store.uri} has no {self.champion_alias!r} alias: there is no "
                "stable model to roll out against; register one first (make run)"
            )
        return version

    def begin(self, version: str, percent: int) -> None:
        self._write(version, percent)

    def set_share(self, percent: int) -> None:
        split = read_split(self.store)
        if split is None:
            raise ConfigurationError(f"no traffic split in {self.store.uri}; start the rollout")
        self._write(str(split["challenger"]), percent)

    def promote(self, version: str) -> None:
        # The champion alias moves (the controller does it); the split goes to 0 so the
        # promoted version, now also champion, answers for everyone.
        self._write(version, 0)

    def roll_back(self, stable: str) -> None:
        split = read_split(self.store)
        if split is not None:
            self._write(str(split["challenger"]), 0)

    def load_state(self) -> RolloutState | None:
        raw = self.store.read_state(ROLLOUT_STATE)
        return None if raw is None else state_from_json(raw.decode())

    def save_state(self, state: RolloutState) -> None:
        self.store.write_state(ROLLOUT_STATE, state_to_json(state).encode())
