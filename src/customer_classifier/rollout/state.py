"""The rollout's state as text, where it is kept between intervals and processes."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from customer_classifier.errors import ConfigurationError
from customer_classifier.rollout.analysis import Phase, RolloutState


def state_to_json(state: RolloutState) -> str:
    return json.dumps(asdict(state), sort_keys=True)


def state_from_json(text: str) -> RolloutState:
    try:
        raw: dict[str, Any] = json.loads(text)
        raw["phase"] = Phase(raw["phase"])
        return RolloutState(**raw)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"the recorded rollout state {text[:200]!r} is unreadable ({exc}); remove the "
            "customer-classifier/rollout annotation and start the rollout again"
        ) from exc
